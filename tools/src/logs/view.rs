//! A parsed line that borrows from the raw bytes: [`LineView`]. The parsers in
//! [`super::parse`] build one, and [`LineView::into_parsed`] turns it into the owned
//! [`Parsed`] a [`super::LogLine`] is made from. The file scan's fast path decides whether
//! a line matches on the view alone and builds owned lines only for those it returns:
//! one parser, two uses, so the two cannot disagree.
use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use smallvec::SmallVec;

/// The label names a line's own fields can give ([`super::canonical_label`]'s values),
/// each with its place in [`LineLabels`].
const NAMES: [&str; 8] = [
    "namespace",
    "pod",
    "container",
    "node",
    "app",
    "level",
    "stream",
    "filename",
];

/// A line parsed from one of the formats, before it gets its source and line number.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    pub text: String,
    pub timestamp: Option<DateTime<Utc>>,
    pub labels: BTreeMap<String, String>,
}

/// A line's own labels, by canonical name: a fixed slot per name, so reading a line's
/// labels allocates nothing, and the first value put under a name stays.
#[derive(Debug, Default)]
pub(crate) struct LineLabels<'a>([Option<Cow<'a, str>>; NAMES.len()]);

impl<'a> LineLabels<'a> {
    /// Puts `value` under canonical name `name`, unless the line already has one.
    /// A name that is not canonical is ignored.
    pub(crate) fn put(&mut self, name: &str, value: Cow<'a, str>) {
        if let Some(i) = NAMES.iter().position(|n| *n == name)
            && self.0[i].is_none()
        {
            self.0[i] = Some(value);
        }
    }

    /// The value under `name` (exactly that name: `job` is stored as `app`, so it is
    /// never found under `job`, as in the owned map).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        let i = NAMES.iter().position(|n| *n == name)?;
        self.0[i].as_deref()
    }

    /// The owned map a [`super::LogLine`] carries.
    pub(crate) fn into_map(self) -> BTreeMap<String, String> {
        NAMES
            .iter()
            .zip(self.0)
            .filter_map(|(n, v)| Some((n.to_string(), v?.into_owned())))
            .collect()
    }
}

/// A line as the parsers read it, borrowing its text and labels from the raw line where
/// it can.
#[derive(Debug)]
pub(crate) struct LineView<'a> {
    pub text: Cow<'a, str>,
    pub timestamp: Option<DateTime<Utc>>,
    pub labels: LineLabels<'a>,
}

impl LineView<'_> {
    /// The owned line.
    pub(crate) fn into_parsed(self) -> Parsed {
        Parsed {
            text: self.text.into_owned(),
            timestamp: self.timestamp,
            labels: self.labels.into_map(),
        }
    }
}

/// What the file scan decides a line on ([`super::line_steps::view_accepted`]): its own
/// labels, its time and its text.
pub(crate) trait Facts {
    /// The line's own value of label `name` (a canonical name; not the file's).
    fn own_label(&self, name: &str) -> Option<&str>;
    fn time(&self) -> Option<DateTime<Utc>>;
    fn text(&self) -> &str;

    /// A label as the line will carry it: its own, else the file's (its own wins, as in
    /// [`super::line_steps::with_base_labels`]).
    fn label<'s>(&'s self, base: &'s BTreeMap<String, String>, name: &str) -> Option<&'s str> {
        self.own_label(name)
            .or_else(|| base.get(name).map(String::as_str))
    }
}

impl Facts for LineView<'_> {
    fn own_label(&self, name: &str) -> Option<&str> {
        self.labels.get(name)
    }
    fn time(&self) -> Option<DateTime<Utc>> {
        self.timestamp
    }
    fn text(&self) -> &str {
        &self.text
    }
}

/// An application's own JSON line as the file scan decides it
/// ([`super::parse::app_json_view`]): its text, its own time, and its own values of only
/// the labels the filter reads. Smaller than a [`LineView`]: no slot for every label.
#[derive(Debug)]
pub(crate) struct AppView<'a> {
    pub text: &'a str,
    pub timestamp: DateTime<Utc>,
    /// By canonical name, each at most once.
    pub labels: SmallVec<[(&'static str, Cow<'a, str>); 2]>,
}

impl Facts for AppView<'_> {
    fn own_label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
    }
    fn time(&self) -> Option<DateTime<Utc>> {
        Some(self.timestamp)
    }
    fn text(&self) -> &str {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_value_stays_and_only_canonical_names_are_kept() {
        let mut l = LineLabels::default();
        l.put("pod", "a".into());
        l.put("pod", "b".into());
        l.put("job", "x".into());
        assert_eq!(l.get("pod"), Some("a"));
        assert_eq!(l.get("job"), None);
        let map = l.into_map();
        assert_eq!(map.len(), 1);
        assert_eq!(map.get("pod").map(String::as_str), Some("a"));
    }

    #[test]
    fn every_canonical_label_has_a_slot() {
        for key in [
            "namespace_name",
            "k8s.pod.name",
            "container",
            "host",
            "service_name",
            "severity",
            "stream",
            "filename",
        ] {
            let canon = super::super::canonical_label(key).unwrap();
            assert!(NAMES.contains(&canon), "{canon}");
        }
    }
}
