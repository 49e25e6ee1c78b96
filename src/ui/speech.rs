//! Reading aloud, offline, for residents who read slowly.
//!
//! The kiosk speaks through the `espeak-ng` command (a Debian package with
//! Vietnamese voices: `vi` Northern, `vi-vn-x-central` Central — right for Quảng
//! Ngãi —, `vi-vn-x-south` Southern). The CLI rather than a binding: no
//! maintained Rust binding covers espeak-ng's Vietnamese voices, and a child
//! process can never block or crash the UI: `speak` spawns it and returns, `stop`
//! kills it. If `espeak-ng` is missing the button does nothing and the log says
//! why.
//!
//! Before speaking, numbers, dates and times are written out as words a person
//! would say ("07:30 04/12/2026" → "bảy giờ ba mươi sáng thứ Sáu, ngày bốn tháng
//! Mười Hai"): espeak reads "07:30" digit by digit otherwise.

use std::process::{Child, Command, Stdio};

use time::{Date, Month, Weekday};

/// A running `espeak-ng`, if any.
#[derive(Debug, Default)]
pub struct Speaker {
    child: Option<Child>,
    /// What was given to read, the last 16 texts, oldest first (for tests: what a
    /// resident heard and in which order, whether or not the machine has a sound
    /// card).
    pub said: Vec<String>,
}

impl Speaker {
    /// Starts reading `text` (normalised) in `voice` at `rate` words a minute,
    /// stopping whatever was being read. Never waits for the speech.
    pub fn speak(&mut self, text: &str, voice: &str, rate: u32) {
        self.stop();
        if self.said.len() >= 16 {
            self.said.remove(0);
        }
        self.said.push(text.to_string());
        let spoken = spoken(text);
        match Command::new("espeak-ng")
            .args(["-v", voice, "-s", &rate.to_string(), "--", &spoken])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => self.child = Some(c),
            Err(e) => tracing::warn!("cannot read aloud: espeak-ng did not start: {e}"),
        }
    }

    /// Stops reading (kills the process and reaps it).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Is something being read right now?
    pub fn speaking(&mut self) -> bool {
        match &mut self.child {
            Some(c) => match c.try_wait() {
                Ok(None) => true,
                _ => {
                    self.child = None;
                    false
                }
            },
            None => false,
        }
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `text`, normalised, as speech to a WAV file (blocking; for tests and
/// for checking a voice is installed).
pub fn to_wav(text: &str, voice: &str, rate: u32, path: &std::path::Path) -> std::io::Result<()> {
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &rate.to_string(), "-w"])
        .arg(path)
        .args(["--", &spoken(text)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("espeak-ng failed: {status}")))
    }
}

const DIGITS: [&str; 10] = [
    "không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín",
];

/// 0 ≤ n < 1000, as said inside a bigger number (`full`: with "không trăm").
fn hundreds(n: u64, full: bool) -> String {
    let (h, t, u) = (n / 100, (n / 10) % 10, n % 10);
    let mut w: Vec<&str> = Vec::new();
    if h > 0 || full {
        w.push(DIGITS[h as usize]);
        w.push("trăm");
    }
    match t {
        0 => {
            if u > 0 && (h > 0 || full) {
                w.push("linh");
            }
        }
        1 => w.push("mười"),
        _ => {
            w.push(DIGITS[t as usize]);
            w.push("mươi");
        }
    }
    match u {
        0 => {}
        1 if t >= 2 => w.push("mốt"),
        4 if t >= 2 => w.push("tư"),
        5 if t >= 1 => w.push("lăm"),
        _ => w.push(DIGITS[u as usize]),
    }
    w.join(" ")
}

/// A whole number in words: 2026 → "hai nghìn không trăm hai mươi sáu".
pub fn number_words(n: u64) -> String {
    if n == 0 {
        return "không".into();
    }
    let units = ["", "nghìn", "triệu", "tỷ"];
    let mut groups = Vec::new();
    let mut m = n;
    while m > 0 {
        groups.push(m % 1000);
        m /= 1000;
    }
    let top = groups.len() - 1;
    let mut words: Vec<String> = Vec::new();
    for (i, g) in groups.iter().enumerate().rev() {
        if *g == 0 {
            continue;
        }
        words.push(hundreds(*g, i < top));
        if let Some(u) = units.get(i).filter(|u| !u.is_empty()) {
            words.push((*u).to_string());
        }
    }
    words.join(" ")
}

fn month_name(m: u8) -> &'static str {
    [
        "Một",
        "Hai",
        "Ba",
        "Tư",
        "Năm",
        "Sáu",
        "Bảy",
        "Tám",
        "Chín",
        "Mười",
        "Mười Một",
        "Mười Hai",
    ]
    .get(usize::from(m).wrapping_sub(1))
    .copied()
    .unwrap_or("")
}

fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Monday => "thứ Hai",
        Weekday::Tuesday => "thứ Ba",
        Weekday::Wednesday => "thứ Tư",
        Weekday::Thursday => "thứ Năm",
        Weekday::Friday => "thứ Sáu",
        Weekday::Saturday => "thứ Bảy",
        Weekday::Sunday => "Chủ Nhật",
    }
}

/// "07:30" → "bảy giờ ba mươi sáng"; hours after noon are said on the 12-hour
/// clock with the part of the day ("14:00" → "hai giờ chiều").
fn time_words(h: u8, m: u8) -> String {
    let (hh, part) = match h {
        0..=10 => (h, "sáng"),
        11..=12 => (h, "trưa"),
        13..=17 => (h - 12, "chiều"),
        _ => (h - 12, "tối"),
    };
    let hh = if hh == 0 { 12 } else { hh };
    let mut s = format!("{} giờ", number_words(u64::from(hh)));
    if m > 0 {
        s.push(' ');
        s.push_str(&number_words(u64::from(m)));
    }
    s.push(' ');
    s.push_str(part);
    s
}

/// "04/12/2026" → "thứ Sáu, ngày bốn tháng Mười Hai" (with the year if `year`).
fn date_words(d: u8, m: u8, y: Option<i32>, year: bool) -> Option<String> {
    let month = Month::try_from(m).ok()?;
    let mut s = String::new();
    if let Some(y) = y {
        let date = Date::from_calendar_date(y, month, d).ok()?;
        s.push_str(weekday_name(date.weekday()));
        s.push_str(", ");
    } else if !(1..=31).contains(&d) {
        return None;
    }
    s.push_str(&format!(
        "ngày {} tháng {}",
        number_words(u64::from(d)),
        month_name(m)
    ));
    if let (Some(y), true) = (y, year) {
        s.push_str(&format!(" năm {}", number_words(y.unsigned_abs().into())));
    }
    Some(s)
}

fn parse_clock(t: &str) -> Option<(u8, u8)> {
    let (h, m) = t.split_once(':')?;
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && (1..=2).contains(&t.split(':').next()?.len())).then_some((h, m))
}

fn parse_date(t: &str) -> Option<(u8, u8, Option<i32>)> {
    let f: Vec<&str> = t.split('/').collect();
    match f.as_slice() {
        [d, m] => Some((d.parse().ok()?, m.parse().ok()?, None)),
        [d, m, y] if y.len() == 4 => {
            Some((d.parse().ok()?, m.parse().ok()?, Some(y.parse().ok()?)))
        }
        _ => None,
    }
}

/// A run of digits: a quantity in words, or — a phone number, a code, anything
/// with a leading zero or too long to be a quantity — digit by digit.
fn digits_words(t: &str) -> String {
    if t.len() > 9 || (t.len() > 1 && t.starts_with('0')) {
        return t
            .chars()
            .filter_map(|c| c.to_digit(10))
            .map(|d| DIGITS[d as usize])
            .collect::<Vec<_>>()
            .join(" ");
    }
    t.parse()
        .map(number_words)
        .unwrap_or_else(|_| t.to_string())
}

/// `text` with its times, dates and numbers written as words, the way the app
/// shows them ("07:30 15/09/2026", "15/09/2026", "30/09", "14 tuổi").
pub fn spoken(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let token_at = |i: usize| -> (String, usize) {
        let mut j = i;
        while j < chars.len() && (chars[j].is_ascii_digit() || matches!(chars[j], ':' | '/')) {
            j += 1;
        }
        // A trailing ':' or '/' is punctuation, not part of the token.
        while j > i && matches!(chars[j - 1], ':' | '/') {
            j -= 1;
        }
        (chars[i..j].iter().collect(), j)
    };
    while i < chars.len() {
        let c = chars[i];
        if !c.is_ascii_digit() || (i > 0 && chars[i - 1].is_alphanumeric()) {
            out.push(c);
            i += 1;
            continue;
        }
        let (tok, j) = token_at(i);
        if let Some((h, m)) = parse_clock(&tok) {
            let mut said = time_words(h, m);
            let mut end = j;
            // "07:30 15/09/2026": the date that follows belongs to the time.
            if j < chars.len()
                && chars[j] == ' '
                && chars.get(j + 1).is_some_and(|c| c.is_ascii_digit())
            {
                let (next, k) = token_at(j + 1);
                if let Some(words) =
                    parse_date(&next).and_then(|(d, m, y)| date_words(d, m, y, false))
                {
                    said = format!("{said} {words}");
                    end = k;
                }
            }
            out.push_str(&said);
            i = end;
        } else if let Some(words) = parse_date(&tok).and_then(|(d, m, y)| date_words(d, m, y, true))
        {
            // "trước ngày 30/09": the word "ngày" is already said.
            let words = match words.strip_prefix("ngày ") {
                Some(rest) if out.ends_with("ngày ") => rest.to_string(),
                _ => words,
            };
            out.push_str(&words);
            i = j;
        } else {
            let run: String = chars[i..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            out.push_str(&digits_words(&run));
            i += run.chars().count();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The read-aloud path for real: espeak-ng writes the spoken notice to a WAV
    /// file; it must be speech of a plausible length (not an empty file, not an
    /// error beep). Skipped, loudly, where espeak-ng is not installed.
    #[test]
    fn a_notice_is_spoken_to_a_wav_of_plausible_length() {
        if Command::new("espeak-ng").arg("--version").output().is_err() {
            eprintln!("SKIPPED: espeak-ng is not installed (apt-get install espeak-ng)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("notice.wav");
        let text = "Tiêm vắc xin sởi cho trẻ từ 1 đến 5 tuổi, 08:00 13/09/2026 tại Trạm Y tế xã.";
        to_wav(text, "vi-vn-x-central", 130, &wav).unwrap();
        let bytes = std::fs::read(&wav).unwrap();
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(&bytes[8..12], b"WAVE");
        let rate = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
        let byte_rate = u32::from_le_bytes(bytes[28..32].try_into().unwrap());
        let seconds = (bytes.len() - 44) as f64 / f64::from(byte_rate);
        // About thirty words at 130 a minute: 8 to 30 seconds of speech.
        assert!((8.0..30.0).contains(&seconds), "{seconds} s at {rate} Hz");
        // Not silence: the samples swing.
        let samples: Vec<i16> = bytes[44..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        let loud = samples.iter().filter(|s| s.unsigned_abs() > 1000).count();
        assert!(
            loud > samples.len() / 20,
            "{loud} of {} samples",
            samples.len()
        );
    }

    #[test]
    fn numbers_are_said_as_people_say_them() {
        let table: &[(u64, &str)] = &[
            (0, "không"),
            (1, "một"),
            (5, "năm"),
            (10, "mười"),
            (11, "mười một"),
            (14, "mười bốn"),
            (15, "mười lăm"),
            (20, "hai mươi"),
            (21, "hai mươi mốt"),
            (24, "hai mươi tư"),
            (25, "hai mươi lăm"),
            (30, "ba mươi"),
            (100, "một trăm"),
            (105, "một trăm linh năm"),
            (110, "một trăm mười"),
            (115, "một trăm mười lăm"),
            (1000, "một nghìn"),
            (2026, "hai nghìn không trăm hai mươi sáu"),
            (2005, "hai nghìn không trăm linh năm"),
            (15_000, "mười lăm nghìn"),
            (1_200_000, "một triệu hai trăm nghìn"),
        ];
        for (n, want) in table {
            assert_eq!(number_words(*n), *want, "{n}");
        }
    }

    #[test]
    fn times_dates_and_numbers_in_text_are_spoken_as_words() {
        let table: &[(&str, &str)] = &[
            // The formats the app shows (`fmt_time`, `fmt_date`, notices' bodies).
            (
                "07:30 04/12/2026",
                "bảy giờ ba mươi sáng thứ Sáu, ngày bốn tháng Mười Hai",
            ),
            (
                "Thời gian: 14:00 15/09/2026",
                "Thời gian: hai giờ chiều thứ Ba, ngày mười lăm tháng Chín",
            ),
            ("19:30", "bảy giờ ba mươi tối"),
            ("12:00", "mười hai giờ trưa"),
            ("08:05", "tám giờ năm sáng"),
            (
                "Hiệu lực đến 30/09/2026.",
                "Hiệu lực đến thứ Tư, ngày ba mươi tháng Chín năm hai nghìn không trăm hai mươi sáu.",
            ),
            ("trước ngày 30/09.", "trước ngày ba mươi tháng Chín."),
            ("Con tôi 14 tuổi", "Con tôi mười bốn tuổi"),
            (
                "gọi 0912 345 678",
                "gọi không chín một hai ba trăm bốn mươi lăm sáu trăm bảy mươi tám",
            ),
            ("trong 60 ngày", "trong sáu mươi ngày"),
            ("bão số 5:", "bão số năm:"),
            ("không có số", "không có số"),
        ];
        for (text, want) in table {
            assert_eq!(spoken(text), *want, "{text:?}");
        }
    }
}
