//! Many nodes in memory (sans-IO sessions between real stores), random edits, random
//! pairwise contacts, a partition and restarts: everyone converges to identical
//! documents.

use conglang::model::{NoticeDraft, RequestDraft, Role, Status};
use conglang::repo::Repo;
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};

use crate::harness::{Commune, digest_of, exchange};

fn run(seed: u64, nodes: usize, steps: usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut c = Commune::new();
    let mut others: Vec<Repo> = (0..nodes - 1)
        .map(|i| {
            let role = match i % 3 {
                0 => Role::Kiosk,
                1 => Role::Courier,
                _ => Role::Official,
            };
            c.member(&format!("n{i}"), role)
        })
        .collect();
    let mut codes: Vec<String> = Vec::new();
    for step in 0..steps {
        let who = rng.random_range(0..nodes);
        let repo: &mut Repo = if who == 0 {
            &mut c.office
        } else {
            &mut others[who - 1]
        };
        match (repo.my_role().unwrap(), rng.random_range(0..3)) {
            (Some(Role::Official), 0) => {
                repo.post_notice(&NoticeDraft {
                    title: format!("Thông báo {step}"),
                    urgent: rng.random_bool(0.2),
                    ..Default::default()
                })
                .unwrap();
            }
            (Some(Role::Official), 1) if !codes.is_empty() => {
                let code = &codes[rng.random_range(0..codes.len())];
                if repo.request(code).unwrap().is_some() {
                    repo.answer_request(
                        code,
                        &format!("Trả lời {step}"),
                        Some(Status::Answered),
                        None,
                    )
                    .unwrap();
                }
            }
            (Some(_), _) => {
                let r = repo
                    .submit_request(&RequestDraft {
                        hamlet: "Nà Khoang".into(),
                        name: format!("Người {step}"),
                        text: "Hỏi".into(),
                        ..Default::default()
                    })
                    .unwrap();
                codes.push(r.code);
            }
            _ => {}
        }
        // A restart: the process dies and the store is reopened (a fresh actor).
        if rng.random_bool(0.1) {
            let i = rng.random_range(1..nodes);
            let dir = others[i - 1].data_dir().to_path_buf();
            others[i - 1] = Repo::open(&dir).unwrap();
        }
        // A random contact; during the first half the commune is split in two
        // partitions (the pass is cut) that cannot meet.
        let a = rng.random_range(0..nodes);
        let b = rng.random_range(0..nodes);
        let partitioned = step < steps / 2 && (a < nodes / 2) != (b < nodes / 2);
        if a != b && !partitioned {
            let (x, y) = pair(&mut c.office, &mut others, a, b);
            exchange(x, y);
        }
    }
    // Finally everyone meets everyone along a chain, twice.
    for _ in 0..2 {
        for i in 0..nodes - 1 {
            let (x, y) = pair(&mut c.office, &mut others, i, i + 1);
            exchange(x, y);
        }
        for i in (0..nodes - 1).rev() {
            let (x, y) = pair(&mut c.office, &mut others, i, i + 1);
            exchange(x, y);
        }
    }
    let d = digest_of(&c.office);
    for o in &others {
        assert_eq!(digest_of(o), d, "seed {seed}: a node did not converge");
        assert_eq!(o.notices().unwrap(), c.office.notices().unwrap());
        assert_eq!(o.requests().unwrap(), c.office.requests().unwrap());
    }
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        codes.len(),
        "tracking codes are unique across the commune"
    );
}

fn pair<'a>(
    office: &'a mut Repo,
    others: &'a mut [Repo],
    a: usize,
    b: usize,
) -> (&'a mut Repo, &'a mut Repo) {
    let (lo, hi) = (a.min(b), a.max(b));
    if lo == 0 {
        (office, &mut others[hi - 1])
    } else {
        let (l, r) = others.split_at_mut(hi - 1);
        (&mut l[lo - 1], &mut r[0])
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, .. ProptestConfig::default() })]
    #[test]
    fn ten_nodes_with_random_contacts_partitions_and_restarts_converge(seed in any::<u64>()) {
        run(seed, 10, 40);
    }
}
