use super::super::test_lines::at;
use super::*;

#[test]
fn the_failing_dependency_is_the_root_not_the_loudest_symptom() {
    let lines = vec![
        at(
            "redis-cart-6b8d7c9f5-zzzzz",
            0,
            0,
            "Ready to accept connections",
        ),
        at(
            "redis-cart-6b8d7c9f5-zzzzz",
            1,
            0,
            "FATAL Out of memory allocating 4096 bytes",
        ),
        at(
            "cartservice-7f96948897-ngkmr",
            1,
            5,
            "ERROR can't access cart storage: dial tcp redis-cart:6379: connection refused",
        ),
        at(
            "cartservice-7f96948897-ngkmr",
            1,
            6,
            "ERROR can't access cart storage: dial tcp redis-cart:6379: connection refused",
        ),
        at(
            "frontend-5d8f7c9b6-abcde",
            1,
            7,
            "ERROR failed to get cart from cartservice: rpc error: Unavailable",
        ),
        at(
            "frontend-5d8f7c9b6-abcde",
            1,
            8,
            "ERROR failed to get cart from cartservice: rpc error: Unavailable",
        ),
        at(
            "frontend-5d8f7c9b6-abcde",
            1,
            9,
            "ERROR failed to get cart from cartservice: rpc error: Unavailable",
        ),
        at("adservice-84dbdf99d-2zdgh", 1, 0, "GET /ads 200"),
    ];
    let c = cascade(&Snapshot {
        lines,
        ..Snapshot::default()
    });
    let root = c.root.clone().unwrap_or_else(|| panic!("{c:#?}"));
    assert_eq!(root.component, "redis-cart");
    assert_eq!(root.affected, vec!["cartservice", "frontend"]);
    assert!(root.why.contains("no failing dependency"), "{}", root.why);
    assert!(root.evidence[0].text.contains("Out of memory"));
    assert!(
        c.chains.contains(&vec![
            "frontend".to_string(),
            "cartservice".into(),
            "redis-cart".into()
        ]),
        "{:?}",
        c.chains
    );
    assert!(c.dependencies.iter().any(|d| d.from == "cartservice"
        && d.to == "redis-cart"
        && d.via == Via::Log
        && d.count == 2));
    assert!(c.other_roots.is_empty());
    assert!(
        !c.components
            .iter()
            .any(|s| s.name == "adservice" && s.failing)
    );
}

#[test]
fn traces_give_direction_and_independent_problems_stay_apart() {
    let lines = vec![
        at(
            "checkout-6c7d8f9b5-qwert",
            2,
            0,
            "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 ERROR charge failed",
        ),
        at(
            "payments-7c9d8f6b5-x1abc",
            2,
            1,
            "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 ERROR db timeout",
        ),
        at("mailer-6c7d8f9b5-aaaaa", 0, 0, "ERROR smtp relay refused"),
    ];
    let c = cascade(&Snapshot {
        lines,
        ..Snapshot::default()
    });
    assert!(
        c.dependencies
            .iter()
            .any(|d| d.from == "checkout" && d.to == "payments" && d.via == Via::Trace)
    );
    let root = c.root.unwrap_or_else(|| panic!("no root"));
    assert_eq!(
        root.component, "payments",
        "the root with dependents comes first"
    );
    assert_eq!(c.other_roots, vec!["mailer"]);
}

#[test]
fn nothing_failing_means_no_root() {
    let c = cascade(&Snapshot {
        lines: vec![at("web-5d8f7c9b6-abcde", 0, 0, "GET / 200")],
        ..Snapshot::default()
    });
    assert!(c.root.is_none() && c.chains.is_empty());
}

#[test]
fn stems_match_plural_and_service_names() {
    assert_eq!(stem("payments"), "payment");
    assert_eq!(stem("payment-service"), "payment");
    assert_eq!(stem("cartservice"), "cart");
    assert_eq!(stem("redis"), "redis"); // short names keep their s
    assert_eq!(stem("redis-cart"), "redis-cart");
}
