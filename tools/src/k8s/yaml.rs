//! Kubernetes objects written as YAML (`kubectl get ... -o yaml`, manifests, several
//! documents separated by `---`), read into the same JSON values the JSON readers take,
//! so events, pod status and the cluster snapshot come from YAML as from JSON.
use serde_json::Value;

/// Most documents read from one text (a `kubectl get -o yaml` of a list is one).
const MAX_DOCUMENTS: usize = 10_000;

/// Deepest flow nesting (`[`, `{`) read: Kubernetes objects nest a few levels, and the
/// YAML scanner's time grows with the square of the depth (100,000 levels: minutes).
const MAX_FLOW_DEPTH: usize = 64;

/// The Kubernetes objects in a YAML text: one object or list as it is, several documents
/// as a `List` of them. `None` when the text is not YAML or holds no object (a map with
/// a `kind` and an `apiVersion`, or a list's `items`): `kubectl describe` output parses
/// as YAML too, and is not objects.
pub fn objects(text: &str) -> Option<Value> {
    use serde::Deserialize;
    if flow_depth(text) > MAX_FLOW_DEPTH {
        return None;
    }
    let mut docs: Vec<Value> = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text).take(MAX_DOCUMENTS) {
        let v = serde_norway::Value::deserialize(doc).ok()?;
        // Keys YAML allows and JSON does not (numbers, maps) fail here: not objects.
        let v: Value = serde_json::to_value(v).ok()?;
        if is_object(&v) {
            docs.push(v);
        } else if !v.is_null() {
            return None;
        }
    }
    match docs.len() {
        0 => None,
        1 => docs.pop(),
        _ => Some(serde_json::json!({"apiVersion": "v1", "kind": "List", "items": docs})),
    }
}

/// The deepest `[`/`{` nesting in the text (brackets inside quotes counted too: an
/// upper bound).
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut most) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                most = most.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    most
}

fn is_object(v: &Value) -> bool {
    v.get("kind").is_some_and(Value::is_string)
        && (v.get("apiVersion").is_some_and(Value::is_string) || v.get("items").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_documents_and_describe_text() {
        let list = "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n    name: worker-01\nkind: List\nmetadata:\n  resourceVersion: \"\"\n";
        let v = objects(list).unwrap();
        assert_eq!(v["items"][0]["metadata"]["name"], "worker-01");
        let docs = "apiVersion: v1\nkind: Service\nmetadata:\n  name: cart\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: cart-1\n";
        let v = objects(docs).unwrap();
        assert_eq!(v["kind"], "List");
        assert_eq!(v["items"][1]["kind"], "Pod");
        // `kubectl describe` parses as YAML but is no object.
        let describe = "Name:         web-1\nNamespace:    shop\nStatus:       Running\n";
        assert!(objects(describe).is_none());
        assert!(objects("not: [valid").is_none());
        assert!(objects("").is_none());
    }

    #[test]
    fn hostile_yaml_is_refused_not_a_crash() {
        // Nesting past the parser's recursion limit, an alias bomb, a huge document count.
        let deep = format!(
            "apiVersion: v1\nkind: List\nitems: {}{}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(objects(&deep).is_none());
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nkind: List\napiVersion: v1\n";
        assert!(objects(bomb).is_none_or(|v| v.to_string().len() < 100_000_000));
        let many = "---\n".repeat(20_000);
        assert!(objects(&many).is_none());
    }
}
