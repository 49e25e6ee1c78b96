//! Which villages are behind: the part of the courier's view that the exchange
//! screen (`exchange.rs`) shows for each village, beside what moved there.
//!
//! "Behind" is read from the receipts that travel back with every sync: a kiosk's
//! receipt lists the notices it holds, so comparing it with the live notices tells
//! the courier which village to ride to first, without having been there.

use super::View;
use crate::identity::NodeId;
use crate::model::{Notice, Role};

/// A kiosk and the live notices meant for it that its last receipt does not list.
pub struct Behind<'a> {
    pub node: NodeId,
    pub name: String,
    pub place: String,
    /// `None`: no receipt from this kiosk has reached this node yet.
    pub missing: Option<Vec<&'a Notice>>,
}

pub fn behind(view: &View, now: i64) -> Vec<Behind<'_>> {
    let mut out: Vec<Behind<'_>> = view
        .roster
        .members
        .values()
        .filter(|m| m.role == Role::Kiosk && m.revoked.is_none())
        .map(|m| {
            let receipt = view
                .receipts
                .iter()
                .find(|(n, _)| *n == m.node)
                .map(|(_, r)| r);
            let missing = receipt.map(|r| {
                view.live_notices(now)
                    .filter(|n| n.hamlets.is_empty() || n.hamlets.contains(&m.place))
                    .filter(|n| !r.notices.contains_key(n.id.as_str()))
                    .collect()
            });
            Behind {
                node: m.node,
                name: m.name.clone(),
                place: m.place.clone(),
                missing,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.place, &a.name).cmp(&(&b.place, &b.name)));
    out
}
