//! Dates and times typed on the official console, read strictly and shown back.
//!
//! Officials type times the way the commune writes them ("08:00 15/09/2026",
//! "8h30 15/9/2026", "2h chiều 15/9/2026"). A free-text box once saved "8h
//! 5/12/26" as the year 0026, so this parser refuses what it cannot read without
//! guessing: two-digit or missing years, times without a date, and times already
//! past. Under each box the console shows what was understood, with the weekday
//! ("Thứ Tư, ngày 16 tháng 9 năm 2026, lúc 09:00"), before anything is saved.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, Weekday};

use super::i18n::{Lang, S};
use crate::model::text::VN_OFFSET;

/// Why a typed time was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenError {
    /// Not a date and time we can read.
    Unreadable,
    /// "5/12/26" or "5/12": the year must be written in full.
    TwoDigitYear,
    /// Already past at the moment of saving.
    Past,
    /// A time of day with no date.
    NeedsDate,
}

impl WhenError {
    /// The message shown under the box, naming the field.
    pub fn text(self, lang: Lang, field: &str) -> String {
        let s = match self {
            WhenError::Unreadable => S::TimeUnreadable,
            WhenError::TwoDigitYear => S::TwoDigitYear,
            WhenError::Past => S::PastTime,
            WhenError::NeedsDate => S::NeedsDate,
        };
        lang.fill(s, &[field])
    }
}

/// Parses a commune time typed at `now` (unix seconds). Empty input is `Ok(None)`.
/// A bare date means 00:00, or 23:59 with `end_of_day` ("valid until 15/09").
/// `allow_past` lets an unchanged old value through when a notice is edited.
pub fn parse_when(
    s: &str,
    now: i64,
    end_of_day: bool,
    allow_past: bool,
) -> Result<Option<i64>, WhenError> {
    let s = s.trim().to_lowercase();
    if s.is_empty() {
        return Ok(None);
    }
    let mut time: Option<(u8, u8)> = None;
    let mut date = None;
    let mut afternoon = false;
    for part in s.split_whitespace() {
        match part {
            // Words people write around the numbers.
            "lúc" | "ngày" | "giờ" | "sáng" | "at" | "on" => continue,
            "chiều" | "tối" | "pm" => {
                afternoon = true;
                continue;
            }
            _ => {}
        }
        if part.contains(['/', '-', '.']) {
            if date.is_some() {
                return Err(WhenError::Unreadable);
            }
            date = Some(parse_date(part)?);
        } else {
            if time.is_some() {
                return Err(WhenError::Unreadable);
            }
            time = Some(parse_clock(part)?);
        }
    }
    let Some(date) = date else {
        return Err(if time.is_some() {
            WhenError::NeedsDate
        } else {
            WhenError::Unreadable
        });
    };
    let clock = match time {
        Some((h, m)) => {
            let h = if afternoon && h < 12 { h + 12 } else { h };
            Time::from_hms(h, m, 0).map_err(|_| WhenError::Unreadable)?
        }
        None if end_of_day => Time::from_hms(23, 59, 0).map_err(|_| WhenError::Unreadable)?,
        None => Time::MIDNIGHT,
    };
    let t = PrimitiveDateTime::new(date, clock)
        .assume_offset(VN_OFFSET)
        .unix_timestamp();
    if t < now && !allow_past {
        return Err(WhenError::Past);
    }
    Ok(Some(t))
}

/// "15/09/2026", "15-9-2026", "15.09.2026".
fn parse_date(part: &str) -> Result<Date, WhenError> {
    let f: Vec<&str> = part.split(['/', '-', '.']).collect();
    let (d, m, y) = match f.as_slice() {
        [d, m, y] => (*d, *m, *y),
        [_, _] => return Err(WhenError::TwoDigitYear),
        _ => return Err(WhenError::Unreadable),
    };
    let num = |x: &str| -> Result<u32, WhenError> {
        if x.is_empty() || !x.chars().all(|c| c.is_ascii_digit()) {
            return Err(WhenError::Unreadable);
        }
        x.parse().map_err(|_| WhenError::Unreadable)
    };
    let (d, m) = (num(d)?, num(m)?);
    if y.len() != 4 {
        // "26" or "026": never guess the century.
        num(y)?;
        return Err(WhenError::TwoDigitYear);
    }
    let y = num(y)? as i32;
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or(WhenError::Unreadable)?;
    let day = u8::try_from(d).map_err(|_| WhenError::Unreadable)?;
    Date::from_calendar_date(y, month, day).map_err(|_| WhenError::Unreadable)
}

/// "08:30", "8h30", "8h", "8g30", "8".
fn parse_clock(part: &str) -> Result<(u8, u8), WhenError> {
    let p = part.replace(['h', 'g'], ":");
    let (h, m) = p.split_once(':').unwrap_or((p.as_str(), ""));
    let m = if m.is_empty() { "0" } else { m };
    let ok = |x: &str| !x.is_empty() && x.len() <= 2 && x.chars().all(|c| c.is_ascii_digit());
    if !ok(h) || !ok(m) {
        return Err(WhenError::Unreadable);
    }
    let (h, m): (u8, u8) = (
        h.parse().map_err(|_| WhenError::Unreadable)?,
        m.parse().map_err(|_| WhenError::Unreadable)?,
    );
    if h > 23 || m > 59 {
        return Err(WhenError::Unreadable);
    }
    Ok((h, m))
}

/// The full date and time, weekday first, in commune time:
/// "Thứ Tư, ngày 16 tháng 9 năm 2026, lúc 09:00".
pub fn describe(unix: i64, lang: Lang) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(unix) else {
        return String::new();
    };
    let t = t.to_offset(VN_OFFSET);
    let (d, m, y) = (t.day(), u8::from(t.month()), t.year());
    let hm = format!("{:02}:{:02}", t.hour(), t.minute());
    match lang {
        Lang::Vi => {
            let wd = match t.weekday() {
                Weekday::Monday => "Thứ Hai",
                Weekday::Tuesday => "Thứ Ba",
                Weekday::Wednesday => "Thứ Tư",
                Weekday::Thursday => "Thứ Năm",
                Weekday::Friday => "Thứ Sáu",
                Weekday::Saturday => "Thứ Bảy",
                Weekday::Sunday => "Chủ Nhật",
            };
            format!("{wd}, ngày {d} tháng {m} năm {y}, lúc {hm}")
        }
        Lang::En => format!("{}, {d} {} {y}, at {hm}", t.weekday(), t.month()),
    }
}

/// Days the appointment picker offers, from today.
pub const PICKER_DAYS: i64 = 14;
/// Hours it offers (the one-stop shop's working day).
pub const PICKER_HOURS: std::ops::RangeInclusive<i64> = 7..=17;
/// Minutes it offers.
pub const PICKER_MINUTES: [i64; 4] = [0, 15, 30, 45];

/// A date and time picker for an appointment (issue 24: the console had a text box
/// only): the next [`PICKER_DAYS`] days with their weekdays, then the hour and the
/// minute, as buttons an official taps. It writes `text` in the form the box reads
/// ("08:30 16/09/2026"), so typing still works and the same strict reading and
/// preview apply; what `text` holds already is shown selected. Its captions are in
/// the console's language (egui_extras' date picker has English ones). It opens
/// from a button (`open`). Returns true when a tap changed `text`.
pub fn picker(ui: &mut egui::Ui, text: &mut String, open: &mut bool, now: i64, lang: Lang) -> bool {
    let chip = |ui: &mut egui::Ui, selected: bool, caption: &str| {
        ui.add(
            egui::Button::selectable(selected, egui::RichText::new(caption).size(18.0))
                .frame_when_inactive(true)
                .min_size(egui::vec2(48.0, 40.0)),
        )
        .clicked()
    };
    // Folded by default: the answer form keeps its height and its buttons in sight.
    let caption = lang.t(if *open {
        S::PickerDone
    } else {
        S::PickDateTime
    });
    if chip(ui, *open, caption) {
        *open = !*open;
    }
    if !*open {
        return false;
    }
    let local = |unix: i64| unix + i64::from(VN_OFFSET.whole_seconds());
    let today = local(now).div_euclid(86_400);
    let chosen = parse_when(text, now, false, true).ok().flatten().map(|t| {
        let l = local(t);
        (
            l.div_euclid(86_400),
            l.rem_euclid(86_400) / 3_600,
            l.rem_euclid(3_600) / 60,
        )
    });
    let (mut day, mut hour, mut minute) = chosen.unwrap_or((today + 1, 8, 0));
    let mut changed = false;
    ui.horizontal_wrapped(|ui| {
        for d in today..today + PICKER_DAYS {
            let Ok(date) = OffsetDateTime::from_unix_timestamp(d * 86_400) else {
                continue;
            };
            let wd = match (lang, date.weekday()) {
                (Lang::Vi, Weekday::Sunday) => "CN".to_string(),
                (Lang::Vi, w) => format!("T{}", w.number_from_sunday()),
                (Lang::En, w) => w.to_string()[..3].to_string(),
            };
            let caption = format!("{wd} {}/{}", date.day(), u8::from(date.month()));
            if chip(ui, chosen.is_some_and(|c| c.0 == d), &caption) {
                day = d;
                changed = true;
            }
        }
    });
    ui.horizontal_wrapped(|ui| {
        for h in PICKER_HOURS {
            if chip(ui, chosen.is_some_and(|c| c.1 == h), &format!("{h}h")) {
                hour = h;
                changed = true;
            }
        }
        ui.add_space(12.0);
        for m in PICKER_MINUTES {
            if chip(ui, chosen.is_some_and(|c| c.2 == m), &format!(":{m:02}")) {
                minute = m;
                changed = true;
            }
        }
    });
    if changed {
        let unix = day * 86_400 - i64::from(VN_OFFSET.whole_seconds()) + hour * 3_600 + minute * 60;
        *text = crate::model::text::format_time_vn(unix);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::text::format_time_vn;

    /// 08:00 on Thursday 10/09/2026 in Vietnam.
    const NOW: i64 = 1_789_002_000;

    #[test]
    fn times_the_commune_writes_are_read_or_refused() {
        use WhenError::*;
        let table: &[(&str, Result<&str, WhenError>)] = &[
            ("08:30 15/09/2026", Ok("08:30 15/09/2026")),
            ("8h30 15/9/2026", Ok("08:30 15/09/2026")),
            ("8h 15/9/2026", Ok("08:00 15/09/2026")),
            ("8g15 15-9-2026", Ok("08:15 15/09/2026")),
            ("15.09.2026 14:00", Ok("14:00 15/09/2026")),
            ("lúc 2h chiều ngày 15/9/2026", Ok("14:00 15/09/2026")),
            ("7h tối 15/9/2026", Ok("19:00 15/09/2026")),
            ("15/09/2026", Ok("00:00 15/09/2026")),
            // The bug report: two-digit years were saved as year 0026.
            ("8h 5/12/26", Err(TwoDigitYear)),
            ("8h 5/12/026", Err(TwoDigitYear)),
            ("8h 5/12", Err(TwoDigitYear)),
            ("8h", Err(NeedsDate)),
            ("09:00", Err(NeedsDate)),
            ("07:00 10/09/2026", Err(Past)),
            ("09/09/2026", Err(Past)),
            ("01/01/2020", Err(Past)),
            ("31/02/2027", Err(Unreadable)),
            ("25:00 15/09/2026", Err(Unreadable)),
            ("8h61 15/09/2026", Err(Unreadable)),
            ("ngày mai", Err(Unreadable)),
            ("tomorrow", Err(Unreadable)),
            ("8h 9h 15/09/2026", Err(Unreadable)),
            ("15/09/2026 16/09/2026", Err(Unreadable)),
            ("+8h 15/09/2026", Err(Unreadable)),
            ("15/9/2O26", Err(Unreadable)),
        ];
        for (input, want) in table {
            let got =
                parse_when(input, NOW, false, false).map(|t| format_time_vn(t.expect("a time")));
            assert_eq!(got.as_deref().map_err(|e| *e), *want, "{input:?}");
        }
        assert_eq!(parse_when("   ", NOW, false, false), Ok(None));
    }

    #[test]
    fn a_bare_date_is_the_end_of_that_day_for_valid_until() {
        let t = parse_when("10/09/2026", NOW, true, false).unwrap().unwrap();
        assert_eq!(format_time_vn(t), "23:59 10/09/2026");
        // An old value kept while editing is let through.
        assert!(
            parse_when("01/01/2026", NOW, false, true)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn the_preview_names_the_weekday_and_the_full_date() {
        let t = parse_when("9h 16/9/2026", NOW, false, false)
            .unwrap()
            .unwrap();
        assert_eq!(
            describe(t, Lang::Vi),
            "Thứ Tư, ngày 16 tháng 9 năm 2026, lúc 09:00"
        );
        assert_eq!(
            describe(t, Lang::En),
            "Wednesday, 16 September 2026, at 09:00"
        );
        let sunday = parse_when("20/09/2026", NOW, false, false)
            .unwrap()
            .unwrap();
        assert!(describe(sunday, Lang::Vi).starts_with("Chủ Nhật, ngày 20 tháng 9"));
    }
}
