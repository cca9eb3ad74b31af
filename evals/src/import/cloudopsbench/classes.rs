//! The benchmark's root-cause classes mapped to our causes: [`CLASSES`] for those seen
//! in the public cases, [`by_words`] for the rest, by the Kubernetes words in the name.

/// One root-cause class: the cause (a signature id, or `other`), its detail, the
/// specialists, the failing message.
pub struct Class {
    /// Cloud-OpsBench's class name.
    pub name: &'static str,
    /// Our signature id, or `other`.
    pub cause: &'static str,
    /// Which kind of the cause.
    pub detail: &'static str,
    /// `infra`, `app` or `both`.
    pub specialists: &'static str,
    /// The failing message, normalized.
    pub error_signature: &'static str,
}

const fn class(
    name: &'static str,
    cause: &'static str,
    detail: &'static str,
    specialists: &'static str,
    error_signature: &'static str,
) -> Class {
    Class {
        name,
        cause,
        detail,
        specialists,
        error_signature,
    }
}

/// The classes seen in the public cases.
pub const CLASSES: &[Class] = &[
    class(
        "oom_killed",
        "oom_killed",
        "memory_limit",
        "infra",
        "OOMKilled, exit code 137",
    ),
    class(
        "liveness_probe_incorrect_protocol",
        "liveness_probe_failure",
        "protocol",
        "infra",
        "Liveness probe failed",
    ),
    class(
        "liveness_probe_incorrect_port",
        "liveness_probe_failure",
        "port",
        "infra",
        "Liveness probe failed",
    ),
    class(
        "liveness_probe_incorrect_timing",
        "liveness_probe_failure",
        "timing",
        "infra",
        "Liveness probe failed",
    ),
    class(
        "readiness_probe_incorrect_port",
        "readiness_probe_failure",
        "port",
        "infra",
        "Readiness probe failed",
    ),
    class(
        "readiness_probe_incorrect_protocol",
        "readiness_probe_failure",
        "protocol",
        "infra",
        "Readiness probe failed",
    ),
    class(
        "incorrect_image_reference",
        "image_pull_error",
        "image_not_found",
        "infra",
        "ErrImagePull / ImagePullBackOff",
    ),
    class(
        "missing_image_pull_secret",
        "image_pull_error",
        "unauthorized",
        "infra",
        "ErrImagePull / ImagePullBackOff",
    ),
    class(
        "image_registry_dns_failure",
        "image_pull_error",
        "registry_unresolvable",
        "infra",
        "ErrImagePull / ImagePullBackOff",
    ),
    class(
        "service_env_var_address_mismatch",
        "dependency_address_invalid",
        "env_var",
        "app",
        "cannot connect to the dependency's address",
    ),
    class(
        "service_selector_mismatch",
        "service_misconfigured",
        "selector_mismatch",
        "infra",
        "service has no endpoints",
    ),
    class(
        "service_port_mapping_mismatch",
        "service_misconfigured",
        "target_port_mismatch",
        "infra",
        "service target port not served",
    ),
    class(
        "service_protocol_mismatch",
        "service_misconfigured",
        "protocol_mismatch",
        "infra",
        "service protocol mismatch",
    ),
    class(
        "node_selector_mismatch",
        "scheduling_failure",
        "node_selector",
        "infra",
        "FailedScheduling: didn't match node selector",
    ),
    class(
        "node_affinity_mismatch",
        "scheduling_failure",
        "node_affinity",
        "infra",
        "FailedScheduling: didn't match node affinity",
    ),
    class(
        "taint_toleration_mismatch",
        "scheduling_failure",
        "untolerated_taint",
        "infra",
        "FailedScheduling: untolerated taint",
    ),
    class(
        "pod_anti_affinity_conflict",
        "scheduling_failure",
        "pod_anti_affinity",
        "infra",
        "FailedScheduling: pod anti-affinity",
    ),
    class(
        "node_cordon_mismatch",
        "scheduling_failure",
        "nodes_unschedulable",
        "infra",
        "FailedScheduling: nodes unschedulable",
    ),
    class(
        "cpu_capacity_mismatch",
        "scheduling_failure",
        "insufficient_cpu",
        "infra",
        "FailedScheduling: Insufficient cpu",
    ),
    class(
        "memory_capacity_mismatch",
        "scheduling_failure",
        "insufficient_memory",
        "infra",
        "FailedScheduling: Insufficient memory",
    ),
    class(
        "pvc_access_mode_mismatch",
        "pvc_unbound",
        "access_mode",
        "infra",
        "unbound immediate PersistentVolumeClaims",
    ),
    class(
        "pvc_capacity_mismatch",
        "pvc_unbound",
        "capacity",
        "infra",
        "unbound immediate PersistentVolumeClaims",
    ),
    class(
        "pvc_selector_mismatch",
        "pvc_unbound",
        "selector",
        "infra",
        "unbound immediate PersistentVolumeClaims",
    ),
    class(
        "pvc_storage_class_mismatch",
        "pvc_unbound",
        "storage_class",
        "infra",
        "unbound immediate PersistentVolumeClaims",
    ),
    class(
        "pv_binding_occupied",
        "pvc_unbound",
        "volume_taken",
        "infra",
        "unbound immediate PersistentVolumeClaims",
    ),
    class(
        "volume_mount_permission_denied",
        "permission_denied",
        "volume_ownership",
        "infra",
        "Permission denied",
    ),
    class(
        "missing_service_account",
        "service_account_missing",
        "service_account",
        "infra",
        "serviceaccount not found",
    ),
    class(
        "namespace_cpu_quota_exceeded",
        "quota_exceeded",
        "cpu",
        "infra",
        "exceeded quota",
    ),
    class(
        "namespace_memory_quota_exceeded",
        "quota_exceeded",
        "memory",
        "infra",
        "exceeded quota",
    ),
    class(
        "namespace_pod_quota_exceeded",
        "quota_exceeded",
        "pods",
        "infra",
        "exceeded quota",
    ),
    class(
        "namespace_service_quota_exceeded",
        "quota_exceeded",
        "services",
        "infra",
        "exceeded quota",
    ),
    class(
        "namespace_storage_quota_exceeded",
        "quota_exceeded",
        "storage",
        "infra",
        "exceeded quota",
    ),
    class(
        "kubelet_unavailable",
        "node_component_down",
        "kubelet",
        "infra",
        "node NotReady",
    ),
    class(
        "containerd_unavailable",
        "node_component_down",
        "container_runtime",
        "infra",
        "node NotReady",
    ),
    class(
        "kube_proxy_unavailable",
        "node_component_down",
        "kube_proxy",
        "infra",
        "service IPs unreachable from the node",
    ),
    class(
        "kube_scheduler_unavailable",
        "node_component_down",
        "kube_scheduler",
        "infra",
        "pods Pending with no scheduling decision",
    ),
];

/// A class the table does not have, mapped by the Kubernetes words in its name; `None`
/// when none fits. Order matters: the most specific words first.
pub fn by_words(name: &str) -> Option<(&'static str, &'static str)> {
    let has = |w: &str| name.contains(w);
    let cause = if has("quota") {
        "quota_exceeded"
    } else if has("oom") {
        "oom_killed"
    } else if has("liveness") || has("startup_probe") {
        "liveness_probe_failure"
    } else if has("readiness") {
        "readiness_probe_failure"
    } else if has("image") || has("registry") {
        "image_pull_error"
    } else if has("service_account") {
        "service_account_missing"
    } else if [
        "kubelet",
        "containerd",
        "docker",
        "kube_proxy",
        "scheduler",
        "node_not_ready",
    ]
    .iter()
    .any(|w| has(w))
    {
        "node_component_down"
    } else if has("pvc") || has("pv_") || has("storage_class") || has("volume_binding") {
        "pvc_unbound"
    } else if (has("scale") || has("replica")) && (has("zero") || has("_0")) {
        "workload_scaled_to_zero"
    } else if has("service_selector")
        || has("service_port")
        || has("service_protocol")
        || has("endpoint")
    {
        "service_misconfigured"
    } else if [
        "affinity",
        "taint",
        "cordon",
        "capacity",
        "node_selector",
        "unschedulable",
    ]
    .iter()
    .any(|w| has(w))
    {
        "scheduling_failure"
    } else if has("read_only") && (has("mysql") || has("db") || has("database") || has("postgres"))
    {
        "db_read_only"
    } else if has("permission") || has("read_only") {
        "permission_denied"
    } else if has("env_var") || has("address") {
        "dependency_address_invalid"
    } else if has("dns") {
        "dns_resolution_failure"
    } else if has("password") || has("credential") || has("auth") {
        "db_auth_failure"
    } else if has("connection_pool") || has("max_connections") || has("exhaust") {
        "connection_pool_exhausted"
    } else if has("delay") || has("latency") || has("timeout") {
        "upstream_timeout"
    } else if has("port") && has("conflict") {
        "port_conflict"
    } else if has("port") {
        "connection_refused"
    } else {
        return None;
    };
    Some((cause, "infra"))
}
