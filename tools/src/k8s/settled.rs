//! Events a later event shows are over.
//!
//! Kubernetes keeps an event for an hour after its last repeat, so a problem that was
//! fixed still shows: a Job or ReplicaSet that could not create its pod (`FailedCreate`:
//! a service account missing, a quota full) and then did (`SuccessfulCreate`, newer).
//! Ranked as a live cause, the stale refusal hides what the pod it finally created is
//! failing on. [`settled`] marks such events, by the objects' own later events alone (no
//! cluster state needed; with recorded state, [`super::current_events`] does more).
use super::{EventFilter, EventSource, K8sEvent};
use crate::ToolError;

/// An event's reason, and the reason of a later event on the same object that ends it.
const ENDED_BY: &[(&str, &str)] = &[("FailedCreate", "SuccessfulCreate")];

/// For each event, whether a later event on the same object ends it. Events with no time
/// (neither `last_seen` nor an age) are never settled: which came last is unknown.
pub fn settled(events: &[K8sEvent]) -> Vec<bool> {
    events
        .iter()
        .map(|e| {
            let Some((_, ender)) = ENDED_BY.iter().find(|(r, _)| *r == e.reason) else {
                return false;
            };
            events.iter().any(|later| {
                later.reason == *ender
                    && later.name == e.name
                    && later.kind.eq_ignore_ascii_case(&e.kind)
                    && later.namespace == e.namespace
                    && newer(later, e)
            })
        })
        .collect()
}

/// The warnings `filter` selects that no later event ended. The source is asked for the
/// normal events too (a `SuccessfulCreate` is one), which are then dropped.
pub async fn live_warnings(
    source: &dyn EventSource,
    filter: &EventFilter,
) -> Result<Vec<K8sEvent>, ToolError> {
    let all = source
        .events(&EventFilter {
            warnings_only: false,
            ..filter.clone()
        })
        .await?;
    let settled = settled(&all);
    Ok(all
        .into_iter()
        .zip(settled)
        .filter(|(e, s)| !s && e.is_warning())
        .map(|(e, _)| e)
        .collect())
}

/// Whether `a` happened no earlier than `b`'s last repeat.
fn newer(a: &K8sEvent, b: &K8sEvent) -> bool {
    if let (Some(x), Some(y)) = (a.last_seen, b.last_seen) {
        return x >= y;
    }
    match (
        a.age.as_deref().and_then(age_seconds),
        b.age.as_deref().and_then(age_seconds),
    ) {
        (Some(x), Some(y)) => x <= y,
        _ => false,
    }
}

/// Seconds in a kubectl age (`9m28s`, `2d3h`, `45s`, `9m28s (x4 over 9m35s)`: the first
/// word, the time since the last repeat). `None` for `<unknown>` or anything else.
pub fn age_seconds(age: &str) -> Option<u64> {
    let word = age.split_whitespace().next()?;
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in word.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(d))?,
            );
            continue;
        }
        let unit = match c {
            'y' => 365 * 86_400,
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    number.is_none().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, name: &str, reason: &str, age: Option<&str>) -> K8sEvent {
        K8sEvent {
            namespace: Some("default".into()),
            kind: kind.into(),
            name: name.into(),
            event_type: "Warning".into(),
            reason: reason.into(),
            message: String::new(),
            count: 1,
            last_seen: None,
            age: age.map(str::to_string),
            source: None,
        }
    }

    #[test]
    fn ages() {
        assert_eq!(age_seconds("9m28s (x4 over 9m35s)"), Some(568));
        assert_eq!(age_seconds("2d3h"), Some(183_600));
        assert_eq!(age_seconds("45s"), Some(45));
        assert_eq!(age_seconds("<unknown>"), None);
        assert_eq!(age_seconds("12"), None);
        assert_eq!(age_seconds("99999999999999999999d"), None);
    }

    #[test]
    fn a_refusal_a_later_creation_ended_is_settled() {
        let events = vec![
            ev(
                "job",
                "get-data",
                "FailedCreate",
                Some("9m28s (x4 over 9m35s)"),
            ),
            ev("Job", "get-data", "SuccessfulCreate", Some("9m19s")),
            // Still refused after its last success: live.
            ev("ReplicaSet", "web-7f9c8d6b5", "FailedCreate", Some("1m")),
            ev(
                "ReplicaSet",
                "web-7f9c8d6b5",
                "SuccessfulCreate",
                Some("30m"),
            ),
            // No times: unknown order, kept.
            ev("Job", "batch", "FailedCreate", None),
            ev("Job", "batch", "SuccessfulCreate", None),
        ];
        assert_eq!(
            settled(&events),
            vec![true, false, false, false, false, false]
        );
    }
}
