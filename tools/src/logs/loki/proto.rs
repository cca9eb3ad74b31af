//! Loki's protobuf push format (`logproto.PushRequest`), snappy-compressed: what Promtail
//! and Alloy send, and smaller and faster for Loki to take than JSON. The messages are
//! declared here with prost's derive (field numbers from Loki's `push.proto`), so no
//! protobuf compiler is needed to build.
use std::collections::BTreeMap;

use super::LokiStream;

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// The streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// The stream's labels as a selector: `{app="api", namespace="shop"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// Its entries, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Unused by pushers.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// When.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<prost_types::Timestamp>,
    /// The line.
    #[prost(string, tag = "2")]
    pub line: String,
}

/// Labels as Loki's selector string, values escaped.
pub fn labels_string(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::logs::logql::quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// The snappy-compressed protobuf body for a push.
pub fn encode(streams: &[LokiStream]) -> Result<Vec<u8>, snap::Error> {
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|s| StreamAdapter {
                labels: labels_string(&s.labels),
                entries: s
                    .entries
                    .iter()
                    .map(|(ts, line)| EntryAdapter {
                        timestamp: Some(prost_types::Timestamp {
                            seconds: ts.div_euclid(1_000_000_000),
                            nanos: ts.rem_euclid(1_000_000_000) as i32,
                        }),
                        line: line.clone(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    };
    snap::raw::Encoder::new().compress_vec(&prost::Message::encode_to_vec(&req))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn round_trips_through_snappy_and_protobuf() {
        let s = LokiStream {
            labels: BTreeMap::from([
                ("app".to_string(), "a\"b".to_string()),
                ("namespace".to_string(), "shop".to_string()),
            ]),
            entries: vec![(1_700_000_000_123_456_789, "hello".to_string())],
        };
        let body = encode(&[s]).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let req = PushRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(req.streams[0].labels, r#"{app="a\"b", namespace="shop"}"#);
        let ts = req.streams[0].entries[0].timestamp.unwrap();
        assert_eq!((ts.seconds, ts.nanos), (1_700_000_000, 123_456_789));
        assert_eq!(req.streams[0].entries[0].line, "hello");
    }
}
