//! `conglang status` in words: the node, its commune and role, its clock, what it
//! holds, and the warnings an official acts on (quarantine, equivocating keys,
//! devices that sent refused data). The JSON form is the report itself.

use crate::clock::Estimate;
use crate::repo::StatusReport;

pub(super) fn print(s: &StatusReport, clock: &Estimate) {
    println!("node:    {}", s.node_id);
    println!(
        "commune: {} ({})",
        s.commune.as_deref().unwrap_or("-"),
        s.commune_id.map(|c| c.to_string()).unwrap_or("-".into())
    );
    println!(
        "role:    {}",
        s.role
            .map(|r| r.to_string())
            .unwrap_or("not a member yet".into())
    );
    println!("clock:   {}", clock.describe());
    for (k, n) in &s.docs {
        println!("{k:>10}: {n}");
    }
    println!(
        "changes: {}  pending: {}  refused: {}  quarantined: {}",
        s.changes, s.pending, s.rejected, s.quarantined
    );
    for (reason, n) in &s.quarantine_reasons {
        println!("  quarantined {n}: {reason}");
    }
    for h in &s.refused_from {
        println!(
            "  WARNING: {} ({}) sent refused data: {} change(s), last at {} ({}); consider revoking it",
            h.name,
            h.node.short(),
            h.changes,
            crate::model::text::format_time(h.last_at),
            h.last_reason
        );
    }
    for e in &s.equivocators {
        println!(
            "  WARNING: key {e} signed two different changes with one sequence number (equivocation); consider revoking it"
        );
    }
}
