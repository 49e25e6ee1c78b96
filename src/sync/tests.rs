//! Unit tests of the session state machine against a trivial in-memory storage:
//! no SQLite, no network, no clock.

use super::*;
use crate::identity::Identity;

/// A store holding nothing but a fixed digest.
struct Fixed([u8; 16]);

impl Storage for Fixed {
    fn digest(&self) -> Result<([u8; 16], u64)> {
        Ok((self.0, 1))
    }
    fn log_position(&self) -> Result<i64> {
        Ok(1)
    }
    fn docs_changed_since(&self, _: i64, _: Option<&NodeId>) -> Result<Vec<DocHeads>> {
        Ok(vec![])
    }
    fn heads(&self, _: &DocId) -> Result<Option<Vec<[u8; 32]>>> {
        Ok(None)
    }
    fn priority(&self, id: &DocId) -> Result<u8> {
        Ok(crate::model::priority(id.kind(), false))
    }
    fn knows(&self, _: &[u8; 32]) -> Result<bool> {
        Ok(false)
    }
    fn changes_missing(&self, _: &DocId, _: &[[u8; 32]]) -> Result<Vec<SignedChange>> {
        Ok(vec![])
    }
    fn local_changes_since(&self, _: &DocId, _: i64) -> Result<Vec<SignedChange>> {
        Ok(vec![])
    }
    fn import(&mut self, _: Vec<SignedChange>, _: &NodeId) -> Result<ImportReport> {
        Ok(ImportReport::default())
    }
    fn is_member(&self, _: &NodeId) -> Result<bool> {
        Ok(true)
    }
    fn note_synced(&mut self, _: &NodeId, _: i64) -> Result<()> {
        Ok(())
    }
}

fn pair() -> (Session, Session, NodeId) {
    let (a, b, c) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let commune = c.node_id();
    (
        Session::new(a.node_id(), b.node_id(), commune, 0),
        Session::new(b.node_id(), a.node_id(), commune, 0),
        commune,
    )
}

/// Delivers until quiet; returns how many messages moved.
fn run(a: &mut Session, sa: &mut Fixed, b: &mut Session, sb: &mut Fixed, cap: usize) -> usize {
    let mut n = 0;
    loop {
        let mut moved = false;
        while let Some(m) = a.poll_transmit() {
            moved = true;
            n += 1;
            let _ = b.handle_message(m, sb);
        }
        while let Some(m) = b.poll_transmit() {
            moved = true;
            n += 1;
            let _ = a.handle_message(m, sa);
        }
        if !moved || n > cap {
            return n;
        }
    }
}

#[test]
fn equal_digests_end_after_one_hello_each() {
    let (mut a, mut b, _) = pair();
    let (mut sa, mut sb) = (Fixed([1; 16]), Fixed([1; 16]));
    a.start(&sa).unwrap();
    b.start(&sb).unwrap();
    assert_eq!(run(&mut a, &mut sa, &mut b, &mut sb, 100), 2);
    assert!(a.is_synced() && b.is_synced());
    assert_eq!(a.stats().round_trips, 1);
}

#[test]
fn idle_peers_that_cannot_converge_go_quiet() {
    // Regression: `Idle` answered `Idle` forever when digests stayed different,
    // starving the node's other work.
    let (mut a, mut b, _) = pair();
    let (mut sa, mut sb) = (Fixed([1; 16]), Fixed([2; 16]));
    a.start(&sa).unwrap();
    b.start(&sb).unwrap();
    let n = run(&mut a, &mut sa, &mut b, &mut sb, 1000);
    assert!(n < 20, "{n} messages for two idle peers");
    assert!(!a.is_synced());
}

#[test]
fn wrong_commune_and_messages_before_hello_are_refused() {
    let (mut a, _, _) = pair();
    let mut s = Fixed([0; 16]);
    let early = a.handle_message(Msg::Ack { digest: [0; 16] }, &mut s);
    assert!(early.is_err());
    let (mut a, _, _) = pair();
    let other = Identity::generate().node_id();
    let r = a.handle_message(
        Msg::Hello {
            version: wire::VERSION,
            commune: other,
            digest: [0; 16],
            docs: 0,
            roster: vec![],
        },
        &mut s,
    );
    assert!(matches!(r, Err(SyncError::OtherCommune(_))));
}
