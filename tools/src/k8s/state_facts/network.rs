//! Network facts: a Service that selects no pod or whose target port nobody serves, and
//! a container configured with an in-cluster address whose Service does not exist.

use std::collections::BTreeSet;

use super::{fact, ns, quantity};
use crate::k8s::K8sEvent;
use crate::k8s::state::{ClusterState, ServiceState, WorkloadState};

/// The in-cluster Service an address names (`redis:6379`, `http://cart:8080/x`,
/// `db.shop.svc.cluster.local:5432` → `redis`, `cart`, `db`); `None` for what is no
/// `host:port` or is outside the cluster (a dotted name that is no `.svc` name).
pub(super) fn service_of(value: &str) -> Option<&str> {
    let rest = value.split_once("://").map_or(value, |(_, r)| r);
    let hostport = rest.split('/').next()?;
    let (host, port) = hostport.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let first = host.split('.').next()?;
    let in_cluster = !host.contains('.') || host.contains(".svc");
    let named = first.starts_with(|c: char| c.is_ascii_lowercase())
        && first
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (in_cluster && named && first != "localhost").then_some(first)
}

/// Containers configured with an in-cluster address whose Service does not exist. Such a
/// fact is a candidate only where a log line mentions the address (signature
/// `dependency_address_invalid`, `corroborate`): an optional dependency nobody calls is no
/// fault. The address is quoted in backticks for that check.
pub(super) fn addresses(state: &ClusterState, out: &mut Vec<K8sEvent>) {
    if state.services.is_empty() {
        return;
    }
    let known: BTreeSet<&str> = state.services.iter().map(|s| s.name.as_str()).collect();
    // With the namespace's Service quota used up, a missing Service was refused.
    let full_quota = state.quotas.iter().find_map(|q| {
        q.items
            .iter()
            .find(|(res, used, hard)| {
                (res == "services" || res == "count/services")
                    && matches!((quantity(used), quantity(hard)), (Some(u), Some(h)) if u >= h)
            })
            .map(|(res, used, hard)| format!("{} ({res} {used}/{hard})", q.name))
    });
    let mut refused = false;
    for p in &state.pods {
        for c in &p.containers {
            for (key, value) in &c.env {
                let Some(service) = service_of(value) else {
                    continue;
                };
                if known.contains(service) {
                    continue;
                }
                if let Some(quota) = &full_quota {
                    if !refused {
                        refused = true;
                        out.push(fact(
                            ns(state),
                            "Namespace",
                            state.namespace.as_deref().unwrap_or_default(),
                            "ServiceRefusedByQuota",
                            format!(
                                "no Service {service} exists though pod {} calls it ({key}={value}), and resource quota {quota} is at its limit: creating the Service was refused (exceeded quota)",
                                p.name
                            ),
                        ));
                    }
                    continue;
                }
                let (reason, near) = match near_miss(key, service, &known) {
                    Some(k) => (
                        "ServiceAddressNearMiss",
                        format!(" (the Service {k} exists: a misspelled or wrong address)"),
                    ),
                    None => ("UnknownServiceAddress", String::new()),
                };
                out.push(fact(
                    ns(state),
                    "Pod",
                    &p.name,
                    reason,
                    format!(
                        "container {} of pod {} is configured with {key}=`{value}`, but no Service {service} exists in this namespace{near}: its calls to that address cannot resolve",
                        c.name, p.name
                    ),
                ));
            }
        }
    }
}

/// The existing Service an address that names none was meant for: the one its variable
/// is named after (`PRODUCT_CATALOG_SERVICE_ADDR` → `productcatalogservice`, whatever the
/// value says), or one the host is a typo of (at most two letters off, names of six
/// letters or more). An optional dependency that is not deployed names no Service either,
/// but its variable names that dependency, not a Service that exists.
fn near_miss<'a>(key: &str, host: &str, known: &BTreeSet<&'a str>) -> Option<&'a str> {
    let squash = |t: &str| -> String {
        t.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let upper = key.to_ascii_uppercase();
    let stem = [
        "_ADDRESS",
        "_ADDR",
        "_HOST",
        "_URL",
        "_URI",
        "_ENDPOINT",
        "_SERVICE_HOST",
    ]
    .iter()
    .find_map(|s| upper.strip_suffix(s))
    .map(squash);
    let meant = stem
        .filter(|s| !s.is_empty() && *s != squash(host))
        .and_then(|s| known.iter().copied().find(|k| squash(k) == s));
    meant.or_else(|| {
        known
            .iter()
            .copied()
            .find(|k| k.len().min(host.len()) >= 6 && strsim::levenshtein(host, k) <= 2)
    })
}

/// Services that cannot deliver: a selector that matches no pod; a target port or
/// protocol that no selected container serves.
pub(super) fn services(state: &ClusterState, out: &mut Vec<K8sEvent>) {
    let labels_known = state.has_pod_labels();
    for s in &state.services {
        if s.selector.is_empty() {
            continue;
        }
        let selector = s
            .selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let pods = state.selected(&s.selector);
        let empty = s
            .endpoints
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == "<none>");
        // A workload whose pods would match, were they running, makes the empty
        // endpoints its problem, not the selector's.
        let would_match = state.workloads.iter().any(|w| {
            !w.selector.is_empty() && s.selector.iter().all(|(k, v)| w.selector.get(k) == Some(v))
        });
        if pods.is_empty()
            && empty
            && let Some(f) = scaled_to_zero(state, s, &selector)
        {
            out.push(f);
            continue;
        }
        if labels_known && pods.is_empty() && empty && !would_match {
            out.push(fact(
                ns(state),
                "Service",
                &s.name,
                "ServiceSelectorMismatch",
                format!(
                    "service {} selects {selector}, which matches no pod: it has no endpoints",
                    s.name
                ),
            ));
            continue;
        }
        // A named target port resolves against the pods' container port names; when no
        // container has that name, ready pods give no endpoint (or an address with no
        // port).
        let portless = s.endpoints.as_deref().is_some_and(|e| {
            !e.is_empty() && e != "<none>" && e.split(',').all(|a| !a.contains(':'))
        });
        let unresolved =
            portless || (empty && !pods.is_empty() && pods.iter().all(|p| p.healthy()));
        for port in s.ports.iter().filter(|p| p.target.parse::<u16>().is_err()) {
            if unresolved {
                out.push(fact(
                    ns(state),
                    "Service",
                    &s.name,
                    "ServiceTargetPortMismatch",
                    format!(
                        "service {} sends port {} to the named target port {}, which no container of its pods declares: its endpoints have no port, so connections to it fail",
                        s.name, port.port, port.target
                    ),
                ));
            }
        }
        let containers: Vec<&(u16, String)> = pods
            .iter()
            .flat_map(|p| p.containers.iter().flat_map(|c| c.ports.iter()))
            .collect();
        if containers.is_empty() {
            continue;
        }
        for port in &s.ports {
            let Ok(target) = port.target.parse::<u16>() else {
                continue;
            };
            let same_port: Vec<&&(u16, String)> =
                containers.iter().filter(|(p, _)| *p == target).collect();
            if same_port.is_empty() {
                let served: Vec<String> = containers
                    .iter()
                    .map(|(p, pr)| format!("{p}/{pr}"))
                    .collect();
                out.push(fact(
                    ns(state),
                    "Service",
                    &s.name,
                    "ServiceTargetPortMismatch",
                    format!(
                        "service {} sends port {} to target port {target}, but its pods serve {}: connections to it fail",
                        s.name,
                        port.port,
                        served.join(", ")
                    ),
                ));
            } else if !same_port
                .iter()
                .any(|(_, pr)| pr.eq_ignore_ascii_case(&port.protocol))
            {
                out.push(fact(
                    ns(state),
                    "Service",
                    &s.name,
                    "ServiceProtocolMismatch",
                    format!(
                        "service {} port {} uses protocol {}, but its pods serve port {target} over {}: connections to it fail",
                        s.name, port.port, port.protocol, same_port[0].1
                    ),
                ));
            }
        }
    }
}

/// The Deployment or StatefulSet behind a Service, when every one that would back it is
/// scaled to zero: nothing serves the Service's callers, by someone's choice or an
/// autoscaler's.
fn scaled_to_zero(state: &ClusterState, s: &ServiceState, selector: &str) -> Option<K8sEvent> {
    let backing: Vec<&WorkloadState> = state
        .workloads
        .iter()
        .filter(|w| w.kind != "ReplicaSet" && !w.selector.is_empty())
        .filter(|w| s.selector.iter().all(|(k, v)| w.selector.get(k) == Some(v)))
        .collect();
    let w = *backing.first()?;
    if !backing.iter().all(|w| w.desired == 0) {
        return None;
    }
    Some(fact(
        ns(state),
        w.kind.as_str(),
        &w.name,
        "ScaledToZero",
        format!(
            "{} {} is scaled to 0 replicas, so service {} (selecting {selector}) has no endpoints: nothing serves its callers",
            w.kind.to_ascii_lowercase(),
            w.name,
            s.name
        ),
    ))
}
