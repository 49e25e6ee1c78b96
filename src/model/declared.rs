//! What an encoded Automerge change *declares*, read from its bytes before anything
//! is expanded: its size once inflated, how many operations its columns hold, how
//! many predecessor ids they list, and how many bytes its repeated strings expand to.
//!
//! Why: Automerge run-length-encodes its op columns, so a change of ~130 bytes can
//! declare four million operations, and its decoder expands them all (`from_bytes`
//! walks every op; `decode` allocates each one) before any of our rules looks at the
//! change. A stranger's single message cost a node 12–17 s of CPU and 1.8 GB that way
//! (issue 21, fault 1). This reader walks the encoded headers and runs once, in time
//! linear in the bytes (every loop step consumes at least one byte), allocating only
//! the inflated body (bounded by `MAX_INFLATED_CHANGE_BYTES`), and refuses a change
//! whose declared work passes the bounds below; only then may the decoder run. The
//! bounds are what an honest change can need (`MAX_CHANGE_OPS` is the verdict's op
//! limit: a larger change is refused anyway), so this refuses nothing honest.
//!
//! The format read (automerge's `storage::change`, `columnar::encoding`): a chunk
//! header (magic, checksum, type, LEB128 length), for type 2 a deflated body; then
//! dependencies, actor, seq, start op, time, message, other actors, the column
//! metadata (spec, length) and the columns. Column types (spec & 7): 0 group, 1 actor,
//! 2 integer, 3 delta, 6 value metadata (RLE of LEB128 values), 4 boolean (alternating
//! run counts), 5 string (RLE of length-prefixed strings), 7 raw values (as long as
//! their bytes: nothing to expand). An RLE run is a signed count: `n > 0` repeats the
//! next value `n` times, `n < 0` lists `-n` values, `0` is followed by a null count.

use anyhow::{Result, bail};

/// Most operations a change may declare: the verdict refuses larger changes
/// (`verdict::rules::MAX_OPS` is this number), so nothing honest is bigger.
pub const MAX_CHANGE_OPS: u64 = super::text::MAX_TEXT_CHARS as u64 + 5_000;
/// Most rows any one column may declare (grouped columns, such as the predecessor
/// ids, hold one row per listed id, so they may exceed the op count).
pub const MAX_COLUMN_ROWS: u64 = 4 * MAX_CHANGE_OPS;
/// Most bytes the repeated strings of a change (keys, mark names) may expand to.
pub const MAX_STRING_BYTES: u64 = 8 * 1024 * 1024;

/// Most dependencies a change may name (an honest change names the heads its
/// author's document had: a handful, more after a partition).
pub const MAX_DEPS: u64 = 1_024;
/// Most other actors a change may list (automerge allocates one id for each, even
/// an empty one: 520,000 of them fit in a 601-byte deflated change). Every process
/// start writes under a new actor, so a receipt carried over by a kiosk driven from
/// the CLI may name thousands: 16,384 (at most 512 KiB of ids) leaves room.
pub const MAX_OTHER_ACTORS: u64 = 16_384;

/// What a change declares (see the module header).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declared {
    /// The change's hash (SHA-256 over its chunk type, length and inflated body, as
    /// automerge names it): what its signature covers, known before decoding.
    pub hash: [u8; 32],
    /// Its actor id, as encoded (the author's key ‖ 8 bytes, when well formed).
    pub actor: Vec<u8>,
    /// Its dependencies' hashes.
    pub deps: Vec<[u8; 32]>,
    /// How many other actors its operations may name.
    pub other_actors: u64,
    /// Size of the change once inflated (the whole chunk, header included).
    pub inflated: u64,
    /// Operations: the rows of the action column, which ends the decoder's walk.
    pub ops: u64,
    /// The most rows any column declares.
    pub max_rows: u64,
    /// Sum of the group columns' values (ids listed per op).
    pub grouped: u64,
    /// Bytes the string columns expand to.
    pub string_bytes: u64,
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const ACTION_COLUMN: u64 = 4;

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.i >= self.b.len()
    }
    /// A LEB128 number's bits, how many bits it had, and whether its last byte had
    /// the sign bit (for `sleb`).
    fn leb(&mut self) -> Result<(u64, u32, bool)> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&byte) = self.b.get(self.i) else {
                bail!("malformed change: truncated number");
            };
            self.i += 1;
            if shift > 63 {
                bail!("malformed change: number too long");
            }
            v |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            shift += 7;
            if byte & 0x80 == 0 {
                return Ok((v, shift, byte & 0x40 != 0));
            }
        }
    }
    fn uleb(&mut self) -> Result<u64> {
        Ok(self.leb()?.0)
    }
    fn sleb(&mut self) -> Result<i64> {
        let (v, shift, negative) = self.leb()?;
        let mut v = v as i64;
        if shift < 64 && negative {
            v |= -1i64 << shift;
        }
        Ok(v)
    }
    fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.i.checked_add(n))
            .filter(|e| *e <= self.b.len());
        let Some(end) = end else {
            bail!("malformed change: a field runs past the end");
        };
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }
}

/// Reads what `bytes` (an encoded change, compressed or not) declares, inflating at
/// most `MAX_INFLATED_CHANGE_BYTES`, and refuses it if it declares more work than the
/// bounds allow. Time and memory are linear in `bytes.len()` (plus the bounded
/// inflation).
pub fn check(bytes: &[u8]) -> Result<Declared> {
    let d = read(bytes)?;
    for (declared, limit, what) in [
        (d.ops, MAX_CHANGE_OPS, "operations"),
        (d.max_rows, MAX_COLUMN_ROWS, "rows in one column"),
        (d.grouped, MAX_COLUMN_ROWS, "listed ids"),
        (
            d.string_bytes,
            MAX_STRING_BYTES,
            "bytes of repeated strings",
        ),
    ] {
        if declared > limit {
            bail!("change declares {declared} {what}, over the {limit} limit");
        }
    }
    Ok(d)
}

/// Reads the declarations without judging them (see [`check`]).
pub fn read(bytes: &[u8]) -> Result<Declared> {
    let limit = super::signed::MAX_INFLATED_CHANGE_BYTES;
    let mut r = Reader { b: bytes, i: 0 };
    if r.take(4)? != MAGIC {
        bail!("malformed change: not an Automerge chunk");
    }
    r.take(4)?; // checksum: the decoder checks it
    let kind = r.take(1)?[0];
    let len = r.uleb()?;
    let header = r.i as u64;
    let data = r.take(len)?;
    if !r.done() {
        bail!("malformed change: bytes after the chunk");
    }
    let inflated;
    let body = match kind {
        1 => {
            inflated = bytes.len() as u64;
            std::borrow::Cow::Borrowed(data)
        }
        2 => {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::DeflateDecoder::new(data)
                .take(limit + 1)
                .read_to_end(&mut out)
                .map_err(|e| anyhow::anyhow!("malformed change: bad deflate stream: {e}"))?;
            if out.len() as u64 > limit {
                bail!("change inflates beyond the {limit} byte limit");
            }
            inflated = out.len() as u64 + header;
            std::borrow::Cow::Owned(out)
        }
        other => bail!("malformed change: chunk type {other} is not a change"),
    };
    let mut d = body_declares(&body)?;
    d.inflated = inflated;
    // The hash automerge gives the change: over the uncompressed chunk's type (1),
    // minimal LEB128 length and body, whatever form it came in.
    use sha2::Digest;
    let mut len = Vec::new();
    craft::uleb(&mut len, body.len() as u64);
    let mut h = sha2::Sha256::new();
    h.update([1u8]);
    h.update(&len);
    h.update(&body[..]);
    d.hash = h.finalize().into();
    Ok(d)
}

fn body_declares(body: &[u8]) -> Result<Declared> {
    let mut r = Reader { b: body, i: 0 };
    let mut d = Declared::default();
    let deps = r.uleb()?;
    if deps > MAX_DEPS {
        bail!("change declares {deps} dependencies, over the {MAX_DEPS} limit");
    }
    for dep in r.take(deps * 32)?.chunks_exact(32) {
        d.deps.push(dep.try_into().expect("32 bytes"));
    }
    let actor = r.uleb()?;
    d.actor = r.take(actor)?.to_vec();
    r.uleb()?; // seq
    r.uleb()?; // start op
    r.sleb()?; // time
    let message = r.uleb()?;
    r.take(message)?;
    let others = r.uleb()?;
    if others > MAX_OTHER_ACTORS {
        bail!("change declares {others} other actors, over the {MAX_OTHER_ACTORS} limit");
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..others {
        let n = r.uleb()?;
        let other = r.take(n)?;
        if other.is_empty() || other == d.actor.as_slice() || !seen.insert(other) {
            bail!("malformed change: an empty or repeated actor id");
        }
    }
    d.other_actors = others;
    let columns = r.uleb()?;
    // Each column's metadata takes at least two bytes: a count beyond that is a lie,
    // refused before it is allocated for.
    if columns > (body.len() as u64) / 2 {
        bail!("malformed change: {columns} columns declared");
    }
    let mut specs = Vec::with_capacity(columns as usize);
    for _ in 0..columns {
        specs.push((r.uleb()?, r.uleb()?));
    }
    for (spec, len) in specs {
        let col = r.take(len)?;
        if spec & 8 != 0 {
            bail!("malformed change: compressed columns inside a change");
        }
        let c = column_declares(spec & 7, col)?;
        d.max_rows = d.max_rows.max(c.rows);
        d.grouped = d.grouped.saturating_add(c.grouped);
        d.string_bytes = d.string_bytes.saturating_add(c.string_bytes);
        if spec >> 4 == ACTION_COLUMN {
            d.ops = d.ops.max(c.rows);
        }
    }
    Ok(d)
}

#[derive(Default)]
struct Column {
    rows: u64,
    grouped: u64,
    string_bytes: u64,
}

fn column_declares(kind: u64, col: &[u8]) -> Result<Column> {
    let mut r = Reader { b: col, i: 0 };
    let mut c = Column::default();
    match kind {
        // Raw values: their bytes are all there is.
        7 => {}
        // Boolean: alternating run counts.
        4 => {
            while !r.done() {
                c.rows = c.rows.saturating_add(r.uleb()?);
            }
        }
        0..=3 | 5 | 6 => {
            while !r.done() {
                let n = r.sleb()?;
                let (count, values) = match n {
                    0 => (r.uleb()?, 0),
                    n if n > 0 => (n as u64, 1),
                    n => (n.unsigned_abs(), n.unsigned_abs()),
                };
                c.rows = c.rows.saturating_add(count);
                // A literal run lists every value; a repeated run has one value that
                // stands for `count` rows.
                let weight = if values == 1 { count } else { 1 };
                for _ in 0..values {
                    if kind == 5 {
                        let len = r.uleb()?;
                        r.take(len)?;
                        c.string_bytes = c.string_bytes.saturating_add(len.saturating_mul(weight));
                    } else {
                        let v = r.uleb()?;
                        if kind == 0 {
                            c.grouped = c.grouped.saturating_add(v.saturating_mul(weight));
                        }
                    }
                }
            }
        }
        _ => unreachable!("spec & 7"),
    }
    Ok(c)
}

/// Encoded changes made by hand, byte by byte, as an attacker would: for tests and
/// fuzz seeds (what the operation bomb looks like on the wire). Nothing here is used
/// by the node itself.
#[doc(hidden)]
pub mod craft {
    use super::MAGIC;

    /// `bytes` (an uncompressed change chunk from [`chunk`]) in an envelope signed by
    /// `key` for `doc`, as its author would sign it: the signature verifies.
    pub fn signed(
        key: &crate::identity::Identity,
        doc: &crate::model::DocId,
        bytes: Vec<u8>,
    ) -> crate::model::SignedChange {
        use sha2::Digest;
        // The change hash: SHA-256 over the chunk type, length and body (what
        // automerge computes), i.e. the chunk without its magic and checksum.
        let hash = automerge::ChangeHash(sha2::Sha256::digest(&bytes[8..]).into());
        crate::model::SignedChange {
            doc: doc.clone(),
            sig: key.sign(&super::super::signed::message(doc, &hash)),
            bytes,
        }
    }

    /// An encoded change chunk around `body` (uncompressed), with a right checksum.
    pub fn chunk(body: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        let mut len = Vec::new();
        uleb(&mut len, body.len() as u64);
        let mut h = sha2::Sha256::new();
        h.update([1u8]);
        h.update(&len);
        h.update(body);
        let sum = h.finalize();
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&sum[..4]);
        out.push(1);
        out.extend(len);
        out.extend_from_slice(body);
        out
    }

    pub fn uleb(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    pub fn sleb(out: &mut Vec<u8>, mut v: i64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0) {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    /// A change body whose columns each repeat one value `ops` times: "make a map at
    /// the root under key `k`", `ops` times — the operation bomb of issue 21 (fault 1),
    /// a few dozen bytes whatever `ops` is. `preds` ids listed per op.
    pub fn bomb_body(actor: &[u8], ops: u64, preds: u64) -> Vec<u8> {
        body_with_action(actor, ops, preds, 0)
    }

    /// [`bomb_body`] with another action code in every operation (automerge knows
    /// 0..=8: any other is a change its decoder refuses, and this reader does not).
    pub fn body_with_action(actor: &[u8], ops: u64, preds: u64, action: u64) -> Vec<u8> {
        let run = |value: &mut dyn FnMut(&mut Vec<u8>)| {
            let mut c = Vec::new();
            sleb(&mut c, ops as i64);
            value(&mut c);
            c
        };
        let key = run(&mut |c| {
            uleb(c, 1);
            c.push(b'k');
        });
        let insert = {
            let mut c = Vec::new();
            uleb(&mut c, ops);
            c
        };
        let action = run(&mut |c| uleb(c, action)); // 0: make map
        let value_meta = run(&mut |c| uleb(c, 0));
        let pred_group = run(&mut |c| uleb(c, preds));
        let mut cols: Vec<(u64, Vec<u8>)> = vec![
            ((1 << 4) | 5, key),
            ((3 << 4) | 4, insert),
            ((4 << 4) | 2, action),
            ((5 << 4) | 6, value_meta),
            ((5 << 4) | 7, Vec::new()),
            ((7 << 4), pred_group),
        ];
        cols.sort_by_key(|(s, _)| *s);
        let mut b = Vec::new();
        uleb(&mut b, 0); // deps
        uleb(&mut b, actor.len() as u64);
        b.extend_from_slice(actor);
        uleb(&mut b, 1); // seq
        uleb(&mut b, 1); // start op
        sleb(&mut b, 0); // time
        uleb(&mut b, 0); // message
        uleb(&mut b, 0); // other actors
        uleb(&mut b, cols.len() as u64);
        for (s, c) in &cols {
            uleb(&mut b, *s);
            uleb(&mut b, c.len() as u64);
        }
        for (_, c) in cols {
            b.extend(c);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::craft::{bomb_body, chunk};
    use super::*;
    use automerge::transaction::Transactable;

    #[test]
    fn an_honest_change_declares_what_the_decoder_finds() {
        let mut doc = automerge::AutoCommit::new();
        let text = doc
            .put_object(automerge::ROOT, "body", automerge::ObjType::Text)
            .unwrap();
        doc.splice_text(&text, 0, 0, &"Bão số 3 ".repeat(300))
            .unwrap();
        doc.put(automerge::ROOT, "title", "Thông báo").unwrap();
        let mut change = doc.get_last_local_change().unwrap().clone();
        let raw = change.raw_bytes().to_vec();
        let d = check(&raw).unwrap();
        assert_eq!(d.ops, change.len() as u64);
        assert!(d.ops > 2_000, "{d:?}");
        assert_eq!(d.inflated, raw.len() as u64);
        // The same change deflated, as automerge sends large ones.
        let packed = change.bytes().into_owned();
        assert!(packed.len() < raw.len(), "deflated");
        let p = check(&packed).unwrap();
        assert_eq!(p.ops, d.ops);
        assert!(p.inflated.abs_diff(d.inflated) <= 4, "{p:?} {d:?}");
    }

    /// The bomb that cost a node 1.8 GB (issue 21, fault 1) is refused from its
    /// ~60 bytes, before the decoder sees it; the same shape just under the limit is
    /// read as the decoder reads it (so the count is the decoder's, not a guess).
    #[test]
    fn an_operation_bomb_is_refused_from_its_headers() {
        let actor = [7u8; 40];
        let bomb = chunk(&bomb_body(&actor, 4_000_001, 0));
        assert!(bomb.len() < 140, "{} bytes", bomb.len());
        let err = check(&bomb).unwrap_err().to_string();
        assert!(err.contains("4000001 operations"), "{err}");
        let huge = chunk(&bomb_body(&actor, i64::MAX as u64, 0));
        assert!(check(&huge).is_err());
        let preds = chunk(&bomb_body(&actor, 10, u32::MAX as u64));
        let err = check(&preds).unwrap_err().to_string();
        assert!(err.contains("listed ids"), "{err}");
        let fine = chunk(&bomb_body(&actor, 1_000, 0));
        let d = check(&fine).unwrap();
        assert_eq!(d.ops, 1_000);
        let decoded = automerge::Change::from_bytes(fine).unwrap();
        assert_eq!(decoded.len(), 1_000, "the decoder counts what we read");
    }

    /// The crafted envelope is what an attacker with a key can send: it verifies (so
    /// the tests of the bomb exercise the declared bound, not a bad signature), and
    /// the same bomb at 4,000,001 operations is refused by `measure`.
    #[test]
    fn a_crafted_change_signed_by_its_author_verifies_until_it_is_a_bomb() {
        let key = crate::identity::Identity::generate();
        let mut actor = key.node_id().as_bytes().to_vec();
        actor.extend_from_slice(&[3; 8]);
        let doc = crate::model::DocId::roster();
        let small = super::craft::signed(&key, &doc, chunk(&bomb_body(&actor, 1_000, 0)));
        let v = small.verify().expect("a well-signed crafted change");
        assert_eq!(v.author, key.node_id());
        let bomb = super::craft::signed(&key, &doc, chunk(&bomb_body(&actor, 4_000_001, 0)));
        let err = bomb.measure().err().expect("refused").to_string();
        assert!(err.contains("declares 4000001 operations"), "{err}");
    }

    /// A change listing 520,000 empty other actors (601 bytes deflated, no operation)
    /// made automerge allocate an id for each: 16 MiB kept per change. Other actors
    /// and dependencies are bounded, and an empty or repeated actor id is refused.
    #[test]
    fn other_actors_and_dependencies_are_bounded() {
        use super::craft::{sleb, uleb};
        let body = |deps: u64, others: &[&[u8]]| {
            let mut b = Vec::new();
            uleb(&mut b, deps);
            b.extend(std::iter::repeat_n(7u8, 32 * deps as usize));
            uleb(&mut b, 40);
            b.extend_from_slice(&[1; 40]);
            uleb(&mut b, 1);
            uleb(&mut b, 1);
            sleb(&mut b, 0);
            uleb(&mut b, 0);
            uleb(&mut b, others.len() as u64);
            for o in others {
                uleb(&mut b, o.len() as u64);
                b.extend_from_slice(o);
            }
            uleb(&mut b, 0); // no columns
            chunk(&b)
        };
        let empties = vec![&[][..]; 520_000];
        let err = read(&body(0, &empties)).unwrap_err().to_string();
        assert!(err.contains("520000 other actors"), "{err}");
        let err = read(&body(0, &[&[][..]])).unwrap_err().to_string();
        assert!(err.contains("empty or repeated"), "{err}");
        let err = read(&body(0, &[&[2; 40][..], &[2; 40][..]]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty or repeated"), "{err}");
        let err = read(&body(MAX_DEPS + 1, &[])).unwrap_err().to_string();
        assert!(err.contains("dependencies"), "{err}");
        let ok = read(&body(3, &[&[2; 40][..], &[3; 40][..]])).unwrap();
        assert_eq!((ok.deps.len(), ok.other_actors), (3, 2));
    }

    /// The signature is checked before the decoder runs: a change nobody signed costs
    /// a hash and a signature check, whatever its columns hold (here: columns the
    /// decoder refuses, which it used to reach first).
    #[test]
    fn an_unsigned_change_is_refused_before_it_is_decoded() {
        let key = crate::identity::Identity::generate();
        let mut actor = key.node_id().as_bytes().to_vec();
        actor.extend_from_slice(&[3; 8]);
        // An action code the decoder refuses.
        let bytes = chunk(&super::craft::body_with_action(&actor, 1_000, 0, 31));
        let doc = crate::model::DocId::roster();
        let unsigned = crate::model::SignedChange {
            doc: doc.clone(),
            bytes: bytes.clone(),
            sig: [0; 64],
        };
        let err = unsigned.verify().unwrap_err().to_string();
        assert!(err.contains("bad signature"), "{err}");
        let signed = super::craft::signed(&key, &doc, bytes);
        let err = signed.verify().unwrap_err().to_string();
        assert!(
            err.contains("malformed"),
            "signed, it reaches the decoder: {err}"
        );
    }

    /// Every byte string is read in time linear in its length and never panics.
    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let actor = [1u8; 40];
        let good = chunk(&bomb_body(&actor, 3, 0));
        for cut in 0..good.len() {
            let _ = read(&good[..cut]);
        }
        for i in 9..good.len() {
            for b in [0x00, 0x7f, 0x80, 0xff] {
                let mut g = good.clone();
                g[i] = b;
                let _ = read(&g);
            }
        }
    }
}
