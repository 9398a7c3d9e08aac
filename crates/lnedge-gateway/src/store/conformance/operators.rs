//! Conformance scenarios of [`OperatorStore`](crate::store::operators::OperatorStore).

use crate::store::operators::{AuditRecord, OperatorRecord, Role, SessionRecord};
use crate::store::{GatewayStore, StoreError};

/// Runs every scenario of this module.
pub async fn run_all(store: &dyn GatewayStore) {
    operators_are_created_once_and_changed_by_compare_and_set(store).await;
    sessions_are_found_by_token_hash_and_end(store).await;
    the_audit_log_appends_in_order_and_pages_newest_first(store).await;
}

fn fresh(what: &str) -> String {
    format!("{what}-{}", hex::encode(rand::random::<[u8; 6]>()))
}

fn operator(name: &str, role: Role) -> OperatorRecord {
    OperatorRecord {
        name: name.to_owned(),
        role,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        linking_key: None,
        enabled: true,
        created_at: 1_700_000_000,
        version: 1,
    }
}

/// An operator is created once (its name, and a linking key, taken only once), read back by name
/// and by linking key, listed by name, and changed only from the version read.
pub async fn operators_are_created_once_and_changed_by_compare_and_set(store: &dyn GatewayStore) {
    let n = store.name();
    let name = fresh("alice");
    assert_eq!(store.operator(&name).await.expect("read"), None, "[{n}]");
    let alice = operator(&name, Role::Admin);
    store.insert_operator(&alice).await.expect("create");
    assert_eq!(store.operator(&name).await.expect("read"), Some(alice.clone()), "[{n}]");
    match store.insert_operator(&operator(&name, Role::Viewer)).await {
        Err(StoreError::OperatorTaken(taken)) => assert_eq!(taken, name, "[{n}]"),
        other => panic!("[{n}] a name taken twice: {other:?}"),
    }

    // A linking key belongs to one operator.
    let key = hex::encode(rand::random::<[u8; 32]>());
    let bob_name = fresh("bob");
    let bob = OperatorRecord {
        linking_key: Some(key.clone()),
        password_hash: None,
        ..operator(&bob_name, Role::Viewer)
    };
    store.insert_operator(&bob).await.expect("create bob");
    assert_eq!(store.operator_by_linking_key(&key).await.expect("read"), Some(bob.clone()));
    let carol = OperatorRecord {
        linking_key: Some(key.clone()),
        ..operator(&fresh("carol"), Role::Viewer)
    };
    assert!(
        matches!(store.insert_operator(&carol).await, Err(StoreError::LinkingKeyTaken)),
        "[{n}] a linking key taken twice"
    );
    let alice_with_bobs_key =
        OperatorRecord { linking_key: Some(key.clone()), version: 2, ..alice.clone() };
    assert!(
        matches!(store.put_operator(&alice_with_bobs_key).await, Err(StoreError::LinkingKeyTaken)),
        "[{n}] another operator's linking key"
    );

    // Changed from the version read; a stale writer changes nothing.
    let demoted =
        OperatorRecord { role: Role::Viewer, enabled: false, version: 2, ..alice.clone() };
    store.put_operator(&demoted).await.expect("update from version 1");
    let stale = OperatorRecord { password_hash: None, version: 2, ..alice.clone() };
    assert!(matches!(store.put_operator(&stale).await, Err(StoreError::Conflict)), "[{n}] stale");
    assert_eq!(store.operator(&name).await.expect("read"), Some(demoted), "[{n}] unchanged");
    let ghost = OperatorRecord { version: 2, ..operator(&fresh("ghost"), Role::Admin) };
    assert!(
        matches!(store.put_operator(&ghost).await, Err(StoreError::UnknownOperator(_))),
        "[{n}] no such operator"
    );

    let listed = store.operators().await.expect("list");
    let names: Vec<&str> = listed.iter().map(|o| o.name.as_str()).collect();
    assert!(names.contains(&name.as_str()) && names.contains(&bob_name.as_str()), "[{n}]");
    assert!(names.windows(2).all(|w| w[0] < w[1]), "[{n}] by name: {names:?}");
}

/// A session is stored by its token's hash, found by it, and ends by logout, with all of its
/// operator's sessions, or when it expired and is purged.
pub async fn sessions_are_found_by_token_hash_and_end(store: &dyn GatewayStore) {
    let n = store.name();
    let name = fresh("dana");
    store.insert_operator(&operator(&name, Role::Viewer)).await.expect("operator");
    let session = |expires_at: u64| SessionRecord {
        token_hash: rand::random(),
        operator: name.clone(),
        csrf_token: hex::encode(rand::random::<[u8; 32]>()),
        created_at: 1_000,
        expires_at,
    };
    let (a, b, c) = (session(5_000), session(6_000), session(7_000));
    for s in [&a, &b, &c] {
        store.insert_operator_session(s).await.expect("session");
    }
    assert!(
        matches!(store.insert_operator_session(&a).await, Err(StoreError::SessionTaken)),
        "[{n}] one token, one session"
    );
    let orphan = SessionRecord { operator: fresh("nobody"), ..session(5_000) };
    assert!(
        matches!(store.insert_operator_session(&orphan).await, Err(StoreError::UnknownOperator(_))),
        "[{n}] a session of no operator"
    );
    assert_eq!(store.operator_session(&a.token_hash).await.expect("read"), Some(a.clone()));
    assert_eq!(store.operator_session(&rand::random()).await.expect("read"), None, "[{n}]");

    assert!(store.delete_operator_session(&a.token_hash).await.expect("logout"), "[{n}]");
    assert!(!store.delete_operator_session(&a.token_hash).await.expect("again"), "[{n}]");
    assert_eq!(store.operator_session(&a.token_hash).await.expect("read"), None, "[{n}]");

    store.purge_operator_sessions(6_500).await.expect("purge");
    assert_eq!(store.operator_session(&b.token_hash).await.expect("read"), None, "[{n}] expired");
    assert!(store.operator_session(&c.token_hash).await.expect("read").is_some(), "[{n}]");
    assert_eq!(store.delete_operator_sessions_of(&name).await.expect("all of dana's"), 1);
    assert_eq!(store.operator_session(&c.token_hash).await.expect("read"), None, "[{n}]");
}

/// Entries get increasing ids in append order and read back newest first, a page at a time.
pub async fn the_audit_log_appends_in_order_and_pages_newest_first(store: &dyn GatewayStore) {
    let n = store.name();
    let actor = fresh("erin");
    let mut ids = Vec::new();
    for i in 0..5u64 {
        let entry = AuditRecord {
            id: 0,
            at: 1_000 + i,
            actor: actor.clone(),
            action: "device.enrol".into(),
            target: format!("device-{i}"),
            detail: if i == 2 { "name \"Lobby\", 3 products".into() } else { String::new() },
        };
        ids.push(store.append_audit(&entry).await.expect("append"));
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "[{n}] increasing: {ids:?}");
    let newest = store.audit_log(Some(ids[4] + 1), 3).await.expect("page 1");
    let got: Vec<u64> = newest.iter().map(|e| e.id).collect();
    assert_eq!(got, vec![ids[4], ids[3], ids[2]], "[{n}]");
    assert_eq!(newest[2].detail, "name \"Lobby\", 3 products", "[{n}]");
    assert_eq!((newest[0].actor.as_str(), newest[0].at), (actor.as_str(), 1_004), "[{n}]");
    let older = store.audit_log(Some(ids[2]), 10).await.expect("page 2");
    assert_eq!(older.iter().take(2).map(|e| e.id).collect::<Vec<_>>(), vec![ids[1], ids[0]]);
    assert!(!store.audit_log(None, 1).await.expect("latest").is_empty(), "[{n}]");
}
