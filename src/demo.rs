//! The built-in demo commune, "Xã Long Môn": the commune office, kiosks in two
//! hamlets and a courier laptop, with the kind of notices, procedures and requests a
//! mountain commune's chat group carried.
//!
//! Everything is made through the same `Repo` calls a real commune uses (init,
//! roster add, join, post, submit, answer) and exchanged with `import`, so the demo
//! also shows that the rules accept what an honest commune does. Creation is
//! idempotent: a finished demo is reused; a half-made one (power cut) is redone.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use time::{Duration, OffsetDateTime, PrimitiveDateTime, Time};

use crate::model::text::{VN_OFFSET, now};
use crate::model::{Appointment, Category, NoticeDraft, RequestDraft, RequestKind, Role, Status};
use crate::repo::Repo;

pub struct Demo {
    pub base: PathBuf,
    pub nodes: Vec<DemoNode>,
}

pub struct DemoNode {
    pub label: String,
    pub role: Role,
    pub data_dir: PathBuf,
}

pub const COMMUNE: &str = "Xã Long Môn";
pub const NA_KHOANG: &str = "Thôn Nà Khoang";
pub const BAN_CHANG: &str = "Thôn Bản Chang";

/// Written last: its presence means the demo is complete.
const MARKER: &str = "demo-ready";

fn layout(base: &Path) -> Vec<DemoNode> {
    let node = |label: &str, role, dir: &str| DemoNode {
        label: label.to_string(),
        role,
        data_dir: base.join(dir),
    };
    vec![
        node("UBND xã (văn phòng)", Role::Official, "office"),
        node("Kiosk Thôn Nà Khoang", Role::Kiosk, "kiosk-na-khoang"),
        node("Kiosk Thôn Bản Chang", Role::Kiosk, "kiosk-ban-chang"),
        node("Máy mang đi (liên lạc)", Role::Courier, "courier"),
    ]
}

pub fn create(base: &Path) -> Result<Demo> {
    let nodes = layout(base);
    if base.join(MARKER).exists() {
        return Ok(Demo {
            base: base.to_path_buf(),
            nodes,
        });
    }
    for n in &nodes {
        if n.data_dir.exists() {
            std::fs::remove_dir_all(&n.data_dir)
                .with_context(|| format!("cannot clear {}", n.data_dir.display()))?;
        }
        std::fs::create_dir_all(&n.data_dir)
            .with_context(|| format!("cannot create {}", n.data_dir.display()))?;
    }
    let mut repos = nodes
        .iter()
        .map(|n| Repo::open(&n.data_dir))
        .collect::<Result<Vec<_>>>()?;
    populate(&mut repos)?;
    std::fs::write(base.join(MARKER), b"ok\n")?;
    Ok(Demo {
        base: base.to_path_buf(),
        nodes,
    })
}

/// A time in the commune, `days` from today at `h:m`.
fn at(days: i64, h: u8, m: u8) -> i64 {
    let today = OffsetDateTime::from_unix_timestamp(now())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(VN_OFFSET)
        .date();
    let time = Time::from_hms(h, m, 0).unwrap_or(Time::MIDNIGHT);
    PrimitiveDateTime::new(today + Duration::days(days), time)
        .assume_offset(VN_OFFSET)
        .unix_timestamp()
}

/// Every repo imports everything from every other, twice (so the receipts made
/// while importing the first time travel too).
fn exchange(repos: &mut [Repo]) -> Result<()> {
    for _ in 0..2 {
        for i in 0..repos.len() {
            for j in 0..repos.len() {
                if i == j {
                    continue;
                }
                let changes = repos[i].all_changes()?;
                let from = repos[i].node_id();
                repos[j].import(changes, Some(&from))?;
            }
        }
    }
    Ok(())
}

fn populate(repos: &mut [Repo]) -> Result<()> {
    let office = 0;
    repos[office].init_commune(COMMUNE, "UBND xã Long Môn")?;
    let members = [
        (1, Role::Kiosk, "Kiosk Nhà văn hóa Nà Khoang", NA_KHOANG),
        (2, Role::Kiosk, "Kiosk Nhà văn hóa Bản Chang", BAN_CHANG),
        (
            3,
            Role::Courier,
            "Laptop anh Hoàng Văn Dũng",
            "Cán bộ liên lạc",
        ),
    ];
    for (i, role, name, place) in members {
        let node = repos[i].node_id();
        let invite = repos[office].roster_add(node, role, name, place, Vec::new())?;
        repos[i].join(&invite)?;
    }

    procedures(&mut repos[office])?;
    notices(&mut repos[office])?;
    exchange(repos)?;

    let q1 = repos[1].submit_request(&RequestDraft {
        kind: Some(RequestKind::Question),
        hamlet: NA_KHOANG.into(),
        name: "Hoàng Văn Páo".into(),
        text: "Con tôi 14 tuổi, làm căn cước lần đầu cần mang giấy tờ gì ạ?".into(),
        phone: None,
        public: true,
    })?;
    let q2 = repos[2].submit_request(&RequestDraft {
        kind: Some(RequestKind::HomeVisit),
        hamlet: BAN_CHANG.into(),
        name: "Lò Thị Mai".into(),
        text: "Bà tôi 82 tuổi, đi lại khó khăn, xin cán bộ đến nhà làm căn cước cho bà.".into(),
        phone: Some("0912 345 678".into()),
        public: false,
    })?;
    repos[1].submit_request(&RequestDraft {
        kind: Some(RequestKind::Appointment),
        hamlet: NA_KHOANG.into(),
        name: "Nông Văn Tài".into(),
        text: "Xin hẹn lịch đăng ký khai sinh cho con mới sinh được 3 tuần.".into(),
        phone: Some("0987 654 321".into()),
        public: false,
    })?;
    exchange(repos)?;

    repos[office].answer_request(
        &q1.code,
        "Cháu mang giấy khai sinh; bố hoặc mẹ đi cùng và mang căn cước của mình. \
         Lần đầu làm căn cước không mất lệ phí. Đến buổi cấp căn cước lưu động ở Nhà văn hóa Nà Khoang.",
        None,
        None,
    )?;
    repos[office].answer_request(
        &q2.code,
        "Công an xã sẽ mang máy đến nhà bà để chụp ảnh, lấy vân tay. Gia đình chuẩn bị giấy khai sinh hoặc sổ hộ khẩu cũ của bà.",
        Some(Status::Scheduled),
        Some(Appointment {
            at: at(6, 14, 0),
            place: "Nhà bà, Thôn Bản Chang".into(),
        }),
    )?;
    exchange(repos)
}

fn procedures(office: &mut Repo) -> Result<()> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    office.add_procedure(
        "Cấp Căn cước (lần đầu, từ 14 tuổi)",
        &s(&[
            "Giấy khai sinh (bản chính hoặc bản sao)",
            "Người dưới 18 tuổi: bố hoặc mẹ đi cùng, mang căn cước",
        ]),
        "Miễn phí lần đầu",
        Some(7),
        &s(&[
            "Đến Công an xã hoặc buổi cấp lưu động",
            "Chụp ảnh, lấy vân tay, ký tờ khai",
            "Nhận giấy hẹn trả thẻ",
        ]),
    )?;
    office.add_procedure(
        "Đăng ký khai sinh",
        &s(&[
            "Giấy chứng sinh do trạm y tế hoặc bệnh viện cấp",
            "Căn cước của bố hoặc mẹ",
            "Giấy chứng nhận kết hôn của bố mẹ (nếu có)",
        ]),
        "Miễn phí nếu đăng ký trong 60 ngày",
        Some(1),
        &s(&[
            "Nộp giấy tờ tại bộ phận một cửa UBND xã",
            "Cán bộ tư pháp kiểm tra, ghi sổ",
            "Nhận giấy khai sinh",
        ]),
    )?;
    office.add_procedure(
        "Xác nhận hộ nghèo, hộ cận nghèo",
        &s(&["Giấy đề nghị (lấy tại UBND xã)", "Căn cước của chủ hộ"]),
        "Không mất phí",
        Some(10),
        &s(&[
            "Nộp giấy đề nghị cho trưởng thôn",
            "Thôn họp bình xét",
            "UBND xã niêm yết và xác nhận",
        ]),
    )?;
    Ok(())
}

fn notices(office: &mut Repo) -> Result<()> {
    let n = |title: &str, body: &str, category, urgent| NoticeDraft {
        title: title.into(),
        body: body.into(),
        category: Some(category),
        urgent,
        ..Default::default()
    };
    office.post_notice(&NoticeDraft {
        hamlets: vec![BAN_CHANG.into()],
        starts: Some(at(4, 19, 30)),
        place: Some("Nhà văn hóa Thôn Bản Chang".into()),
        valid_until: Some(at(4, 22, 0)),
        ..n(
            "Họp thôn bàn làm đường bê tông",
            "Mời đại diện các hộ đến họp bàn việc góp công làm đường bê tông vào thôn.",
            Category::Other,
            false,
        )
    })?;
    office.post_notice(&n(
        "Hỗ trợ làm nhà cho hộ nghèo năm 2026",
        "Hộ nghèo, hộ cận nghèo chưa có nhà kiên cố được hỗ trợ tiền làm nhà. \
         Gia đình đăng ký với trưởng thôn trước ngày 30 tháng này; xã sẽ xét theo danh sách hộ nghèo.",
        Category::Policy,
        false,
    ))?;
    office.post_notice(&NoticeDraft {
        starts: Some(at(3, 8, 0)),
        place: Some("Trạm Y tế xã Long Môn".into()),
        valid_until: Some(at(3, 17, 0)),
        ..n(
            "Tiêm vắc xin sởi cho trẻ từ 1 đến 5 tuổi",
            "Bố mẹ đưa trẻ đến tiêm, mang theo sổ tiêm chủng. Trẻ đang sốt thì báo cán bộ y tế.",
            Category::Health,
            false,
        )
    })?;
    office.post_notice(&NoticeDraft {
        starts: Some(at(5, 7, 30)),
        place: Some("Nhà văn hóa Thôn Nà Khoang".into()),
        valid_until: Some(at(5, 17, 0)),
        ..n(
            "Lịch cấp Căn cước lưu động",
            "Công an xã làm căn cước lưu động cho người dân từ 14 tuổi trở lên. \
             Mang giấy khai sinh; trẻ dưới 18 tuổi có bố hoặc mẹ đi cùng. Lần đầu không mất phí.",
            Category::Schedule,
            false,
        )
    })?;
    office.post_notice(&NoticeDraft {
        valid_until: Some(now() + 3 * 24 * 3600),
        ..n(
            "Cảnh báo bão số 5: mưa lớn, nguy cơ lũ quét và sạt lở đất",
            "Từ đêm nay đến hết ngày kia có mưa rất to. Không qua suối, ngầm tràn khi nước lên. \
             Các hộ ở chân đồi, ven suối chuẩn bị di chuyển đến Nhà văn hóa thôn khi có hiệu lệnh. \
             Gọi trưởng thôn hoặc UBND xã nếu cần giúp đỡ.",
            Category::Storm,
            true,
        )
    })?;
    Ok(())
}
