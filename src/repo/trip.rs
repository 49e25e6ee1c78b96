//! The courier's trip tally, on the store: what moved with each peer since the trip
//! began (changes brought to it, changes taken back from it, the urgent notices it
//! gave us), so the exchange screen still says "this trip: brought 12, took back 3"
//! for Bản Chang after the laptop was shut between two halls.
//!
//! Why the `meta` table and not a table of its own: the tally is this machine's own
//! bookkeeping (never synced), a few dozen entries read whole by the screen and
//! rewritten once per contact, like the peer clock observations (`health`). One JSON
//! value needs no migration and no query the store does not already have.
//!
//! The node records every contact as it ends (`node::drop_conn`, on the core thread,
//! so a lagging screen loses nothing and a headless courier counts too); the courier
//! starts a new trip from the exchange screen.

use super::*;

/// `meta` key of the trip (JSON: [`Trip`]).
const META_TRIP: &str = "trip";
/// Most peers kept on one trip (a commune has a few dozen machines): past this the
/// peer met longest ago goes, so the value stays small whatever happens.
const MAX_TRIP_PEERS: usize = 256;
/// Most urgent titles kept per peer.
const MAX_URGENT_TITLES: usize = 20;

/// What moved with one peer on this trip.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TripPeer {
    /// Changes sent to it (what the courier brought).
    pub brought: u64,
    /// Changes received from it (what the courier takes back).
    pub took: u64,
    pub contacts: u32,
    /// Titles of the urgent notices received from it, first seen first.
    pub urgent_in: Vec<String>,
    /// When the last contact ended (unix s).
    pub last: i64,
}

/// The current trip.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trip {
    /// When it began (unix s): when the courier started it, else the first contact
    /// recorded; 0 while nothing happened.
    pub since: i64,
    pub peers: BTreeMap<NodeId, TripPeer>,
}

#[derive(Default, Serialize, Deserialize)]
struct TripJson {
    since: i64,
    peers: BTreeMap<String, TripPeer>,
}

impl Repo {
    /// The trip so far (empty if none was recorded or the value cannot be read: a
    /// tally is not worth refusing to start over).
    pub fn trip(&self) -> Result<Trip> {
        let Some(s) = self.store.read().meta(META_TRIP)? else {
            return Ok(Trip::default());
        };
        let raw: TripJson = serde_json::from_str(&s).unwrap_or_default();
        Ok(Trip {
            since: raw.since,
            peers: raw
                .peers
                .into_iter()
                .filter_map(|(n, p)| Some((n.parse().ok()?, p)))
                .collect(),
        })
    }

    /// Adds one finished contact with `peer` to the trip.
    pub fn note_trip_contact(
        &mut self,
        peer: &NodeId,
        brought: u64,
        took: u64,
        urgent_in: &[String],
        now: i64,
    ) -> Result<()> {
        let mut trip = self.trip()?;
        if trip.since == 0 {
            trip.since = now;
        }
        let p = trip.peers.entry(*peer).or_default();
        p.brought += brought;
        p.took += took;
        p.contacts += 1;
        p.last = now;
        for t in urgent_in {
            if p.urgent_in.len() < MAX_URGENT_TITLES && !p.urgent_in.contains(t) {
                p.urgent_in.push(t.clone());
            }
        }
        while trip.peers.len() > MAX_TRIP_PEERS {
            let Some(oldest) = trip
                .peers
                .iter()
                .min_by_key(|(_, p)| p.last)
                .map(|(n, _)| *n)
            else {
                break;
            };
            trip.peers.remove(&oldest);
        }
        self.save_trip(&trip)
    }

    /// Starts a new trip at `now`: the tally of the last one is forgotten.
    pub fn new_trip(&mut self, now: i64) -> Result<()> {
        self.save_trip(&Trip {
            since: now,
            peers: BTreeMap::new(),
        })
    }

    fn save_trip(&mut self, trip: &Trip) -> Result<()> {
        let json = TripJson {
            since: trip.since,
            peers: trip
                .peers
                .iter()
                .map(|(n, p)| (n.to_string(), p.clone()))
                .collect(),
        };
        let json = serde_json::to_string(&json)?;
        self.store.write(|db| db.set_meta(META_TRIP, &json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trip_adds_up_across_reopening_and_a_new_trip_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let village = Identity::generate().node_id();
        let flood = vec!["Lũ quét".to_string()];
        {
            let mut r = Repo::open(dir.path()).unwrap();
            assert_eq!(r.trip().unwrap(), Trip::default());
            r.note_trip_contact(&village, 10, 2, &flood, 1_000).unwrap();
        }
        let mut r = Repo::open(dir.path()).unwrap();
        r.note_trip_contact(&village, 1, 3, &flood, 2_000).unwrap();
        let t = r.trip().unwrap();
        assert_eq!(t.since, 1_000);
        let p = &t.peers[&village];
        assert_eq!((p.brought, p.took, p.contacts, p.last), (11, 5, 2, 2_000));
        assert_eq!(p.urgent_in, flood, "a title received twice is listed once");
        r.new_trip(3_000).unwrap();
        let t = r.trip().unwrap();
        assert_eq!((t.since, t.peers.len()), (3_000, 0));
    }

    #[test]
    fn the_trip_stays_bounded_and_an_unreadable_one_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Repo::open(dir.path()).unwrap();
        let many: Vec<String> = (0..50).map(|i| format!("tin {i}")).collect();
        for i in 0..(MAX_TRIP_PEERS as u32 + 5) {
            let id = Identity::generate().node_id();
            r.note_trip_contact(&id, 1, 1, &many, i as i64 + 1).unwrap();
        }
        let t = r.trip().unwrap();
        assert_eq!(t.peers.len(), MAX_TRIP_PEERS);
        // The ones met longest ago went.
        assert!(t.peers.values().all(|p| p.last > 5));
        assert!(
            t.peers
                .values()
                .all(|p| p.urgent_in.len() == MAX_URGENT_TITLES)
        );
        r.store
            .write(|db| db.set_meta(META_TRIP, "{not json"))
            .unwrap();
        assert_eq!(r.trip().unwrap(), Trip::default());
    }
}
