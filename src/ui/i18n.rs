//! Every string the app shows, in Vietnamese and English, in one table.
//!
//! Vietnamese is the default: residents, officials and couriers all read it. English
//! is there for visitors and for developers who do not. Keeping the table in one
//! file (one `match`, the two languages side by side) makes a missing translation a
//! compile error instead of a blank button on a kiosk in a village hall.

use crate::model::{Category, RequestKind, Role, Status};

/// The language the app is shown in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Vi,
    En,
}

/// Declares [`S`] and [`S::ALL`] from one list, so a test can walk every string
/// (the check that no English reaches a Vietnamese kiosk screen uses it).
macro_rules! strings {
    ($($v:ident),+ $(,)?) => {
        /// A string of the app. Templates carry `{}` placeholders, filled in by [`Lang::fill`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum S { $($v),+ }
        impl S {
            /// Every string, in declaration order.
            pub const ALL: &'static [S] = &[$(S::$v),+];
        }
    };
}

strings!(
    AppName,
    SwitchLanguage,
    ViewAs,
    DemoOffice,
    DemoCourier,
    DemoKiosk,
    StartPortInUse,
    StartPortInUseDo,
    StartFailed,
    StartFailedDo,
    PickDateTime,
    PickerDone,
    NavNotices,
    NavProcedures,
    NavAsk,
    NavLookup,
    NavManageNotices,
    NavInbox,
    NavRoster,
    UpdatedAt,
    NeverSynced,
    Syncing,
    Loading,
    Back,
    Urgent,
    AllCategories,
    NoNotices,
    When,
    Where,
    ValidUntil,
    Posted,
    For,
    WholeCommune,
    ProceduresTitle,
    NoProcedures,
    Papers,
    Fee,
    Days,
    DaysN,
    Steps,
    AskTitle,
    AskKind,
    Hamlet,
    Name,
    Phone,
    PhoneNote,
    Question,
    Public,
    Send,
    Sending,
    Sent,
    KeepCode,
    AskAnother,
    PleaseFill,
    TypingInto,
    TapAField,
    LookupTitle,
    Code,
    Find,
    NotFound,
    Status,
    Answers,
    NoAnswers,
    Appointment,
    AtPlace,
    From,
    PublicQa,
    NewNotice,
    EditNotice,
    Title,
    Body,
    Category,
    UrgentFlag,
    StartsField,
    PlaceField,
    ValidUntilField,
    HamletsField,
    TimeFormat,
    Post,
    SaveChanges,
    Cancel,
    Edit,
    Withdraw,
    Withdrawn,
    Expired,
    ReachCount,
    ReachTitle,
    ReachNone,
    HasLatest,
    HasOlder,
    HasNewer,
    HasUnknown,
    ShowReach,
    BadTime,
    Saved,
    ErrorPrefix,
    FilterStatus,
    FilterHamlet,
    All,
    Contact,
    NoContact,
    AnswerField,
    AppointmentAtField,
    AppointmentPlaceField,
    SendAnswer,
    MarkResolved,
    NoRequests,
    ReplyTo,
    ResolvedNote,
    ConfirmRevoke,
    You,
    Received,
    RosterTitle,
    NodeIdField,
    RoleField,
    DeviceName,
    DevicePlace,
    Enrol,
    InviteIntro,
    Revoke,
    StepKind,
    StepReview,
    StepOf,
    Next,
    WhatDoYouNeed,
    ReviewTitle,
    ReadBack,
    RevokeSeniorOnly,
    Revoked,
    Equivocated,
    QuarantinedCount,
    Member,
    CourierTitle,
    BehindTitle,
    UpToDate,
    MissingN,
    SentRefused,
    NoReceipt,
    FleetTitle,
    FleetDevice,
    FleetSeen,
    FleetVersion,
    FleetDisk,
    FleetClock,
    FleetNotices,
    OnlineNow,
    NeverSeen,
    JustNow,
    MinutesAgo,
    HoursAgo,
    DaysAgo,
    SpanMinutes,
    SpanHours,
    SpanDays,
    SpanYears,
    VersionOld,
    NotKnown,
    DiskLow,
    DiskFree,
    ClockOk,
    ClockBehind,
    ClockAhead,
    NotApplicable,
    MyClockWrong,
    UpdatedAgo,
    Carries,
    CarriesCounts,
    NavExchange,
    ExchangeTitle,
    ExchangeHint,
    ExchangingNow,
    ExchangingWith,
    ExchangeStarting,
    ExchangeDone,
    ConnectedNow,
    UrgentReceived,
    UrgentComing,
    UrgentGoing,
    MovedCounts,
    LeftItems,
    TimeLeft,
    Seconds,
    Minutes,
    NearbyTitle,
    NearbyMember,
    NearbyStranger,
    NoNearby,
    NeedsUpdate,
    OlderPeer,
    LastExchanges,
    UpToDateWith,
    UpToDateWithOn,
    NeverExchanged,
    TripTally,
    TripNotMet,
    // The courier's trip and urgent notices per village (issue 12, point 3).
    TripNone,
    TripSince,
    TripSinceOn,
    NewTrip,
    NewTripAsk,
    NewTripYes,
    MissingNUrgent,
    UrgentMissing,
    AndNMore,
    TripUrgentIn,
    ThisNodeId,
    KbSpace,
    KbBackspace,
    KbShift,
    KbNumbers,
    KbLetters,
    PublicShort,
    PhoneNoteShort,
    LimitReached,
    Unsupported,
    PhoneDigits,
    TooShort,
    Paced,
    SaveFailed,
    SendAnotherWait,
    CodeHint,
    LookupWait,
    HomeVisitPlace,
    SelectRequest,
    MarkJunk,
    SelectAllShown,
    ClearSelection,
    TimeUnreadable,
    TwoDigitYear,
    PastTime,
    NeedsDate,
    NeedsPlace,
    NeedsTime,
    Optional,
    MarkedJunk,
    // Pairing (issue 13, point 2).
    WaitingTitle,
    WaitingBody,
    WaitingShortId,
    PairConnecting,
    PairCodeMachine,
    PairCodeOffice,
    PairMatch,
    PairNoMatch,
    PairWaitOffice,
    PairWaitMachine,
    PairMachineConfirmed,
    PairJoined,
    PairFailedTitle,
    PairRetry,
    PairClose,
    ReasonOfficeNo,
    ReasonMachineNo,
    ReasonTimeout,
    ReasonAlready,
    ReasonRevoked,
    ReasonBusy,
    ReasonNotWaiting,
    ReasonBadCommit,
    ReasonLost,
    UsbTitle,
    UsbBody,
    UsbWriteId,
    UsbReadInvite,
    UsbIdWritten,
    UsbNoInvite,
    UsbNoStick,
    NewMachinesTitle,
    NewMachinesNone,
    PairWith,
    AlreadyIn,
    PairingWith,
    PairConfirmOffice,
    PairEnrolled,
    UsbFindIds,
    FromUsb,
    UsbEnrol,
    UsbInviteWritten,
    UsbNoIds,
    InviteToUsb,
    UsbBadInvite,
    PairError,
    StoreFailed,
    ReadAloud,
    StopReading,
);

impl Lang {
    /// The other language: what the language button switches to.
    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    pub fn t(self, s: S) -> &'static str {
        let (vi, en) = table(s);
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// Fills the `{}` placeholders of a template in order.
    pub fn fill(self, s: S, args: &[&str]) -> String {
        let mut out = String::new();
        let mut rest = self.t(s);
        let mut args = args.iter();
        while let Some(i) = rest.find("{}") {
            out.push_str(&rest[..i]);
            out.push_str(args.next().copied().unwrap_or(""));
            rest = &rest[i + 2..];
        }
        out.push_str(rest);
        out
    }

    pub fn category(self, c: Category) -> &'static str {
        let pair = match c {
            Category::Policy => ("Chính sách", "Policy"),
            Category::Schedule => ("Lịch hẹn, Căn cước", "Schedules, ID cards"),
            Category::Storm => ("Thiên tai", "Disasters"),
            Category::Health => ("Y tế", "Health"),
            Category::Other => ("Khác", "Other"),
        };
        self.pick(pair)
    }

    pub fn status(self, s: Status) -> &'static str {
        let pair = match s {
            Status::New => ("Đã gửi, chờ trả lời", "Sent, waiting for an answer"),
            Status::Answered => ("Đã trả lời", "Answered"),
            Status::Scheduled => ("Đã hẹn lịch", "Appointment set"),
            Status::Resolved => ("Đã giải quyết xong", "Resolved"),
            Status::Junk => ("Rác, đã bỏ qua", "Junk, dismissed"),
        };
        self.pick(pair)
    }

    pub fn request_kind(self, k: RequestKind) -> &'static str {
        let pair = match k {
            RequestKind::Question => ("Hỏi đáp", "Question"),
            RequestKind::Appointment => ("Đặt lịch hẹn", "Appointment"),
            RequestKind::HomeVisit => ("Xin cán bộ đến nhà", "Home visit"),
        };
        self.pick(pair)
    }

    pub fn role(self, r: Role) -> &'static str {
        let pair = match r {
            Role::Official => ("Cán bộ xã", "Official"),
            Role::Kiosk => ("Kiosk thôn", "Village kiosk"),
            Role::Courier => ("Máy mang đi", "Courier laptop"),
        };
        self.pick(pair)
    }

    fn pick(self, (vi, en): (&'static str, &'static str)) -> &'static str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }
}

/// The table: Vietnamese first, English second.
fn table(s: S) -> (&'static str, &'static str) {
    match s {
        S::AppName => ("Cổng Làng", "Cổng Làng"),
        S::SwitchLanguage => ("English", "Tiếng Việt"),
        S::ViewAs => ("Xem như:", "View as:"),
        S::DemoOffice => ("UBND xã (văn phòng)", "Commune office"),
        S::DemoCourier => ("Máy liên lạc", "Courier laptop"),
        S::DemoKiosk => ("Kiosk {}", "Kiosk {}"),
        S::StartPortInUse => (
            "Cổng Làng chưa chạy được: cổng mạng {} đang bị một chương trình khác dùng (có thể Cổng Làng đã được mở hai lần).",
            "Cổng Làng cannot start: network port {} is held by another program (perhaps Cổng Làng is running twice).",
        ),
        S::StartPortInUseDo => (
            "Hãy tắt máy rồi bật lại. Nếu vẫn thấy thông báo này, hãy báo cán bộ xã hoặc người phụ trách kỹ thuật.",
            "Turn the machine off and on again. If this message stays, tell the commune office or the technician.",
        ),
        S::StartFailed => (
            "Cổng Làng chưa chạy được trên máy này.",
            "Cổng Làng cannot start on this machine.",
        ),
        S::StartFailedDo => (
            "Hãy báo cán bộ xã hoặc người phụ trách kỹ thuật: chi tiết lỗi đã được ghi vào nhật ký của máy.",
            "Tell the commune office or the technician: the details are in the machine's log.",
        ),
        S::PickDateTime => ("Chọn ngày, giờ hẹn", "Pick a date and time"),
        S::PickerDone => ("Xong", "Done"),
        S::NavNotices => ("Thông báo", "Notices"),
        S::NavProcedures => ("Thủ tục", "Procedures"),
        S::NavAsk => ("Gửi câu hỏi", "Ask"),
        S::NavLookup => ("Tra cứu", "Look up"),
        S::NavManageNotices => ("Quản lý thông báo", "Manage notices"),
        S::NavInbox => ("Yêu cầu của dân", "Requests"),
        S::NavRoster => ("Thiết bị", "Devices"),
        S::UpdatedAt => ("Cập nhật lúc {} từ {}", "Updated at {} from {}"),
        S::NeverSynced => (
            "Chưa trao đổi dữ liệu với máy nào",
            "Not exchanged data with anyone yet",
        ),
        S::Syncing => ("Đang trao đổi dữ liệu…", "Exchanging data…"),
        S::Loading => ("Đang tải…", "Loading…"),
        S::Back => ("Quay lại", "Back"),
        S::Urgent => ("KHẨN CẤP", "URGENT"),
        S::AllCategories => ("Tất cả", "All"),
        S::NoNotices => ("Chưa có thông báo nào.", "No notices yet."),
        S::When => ("Thời gian", "When"),
        S::Where => ("Địa điểm", "Where"),
        S::ValidUntil => ("Hiệu lực đến", "Valid until"),
        S::Posted => ("Đăng lúc", "Posted"),
        S::For => ("Dành cho", "For"),
        S::WholeCommune => ("Toàn xã", "The whole commune"),
        S::ProceduresTitle => ("Thủ tục hành chính", "Administrative procedures"),
        S::NoProcedures => ("Chưa có hướng dẫn thủ tục.", "No procedure guides yet."),
        S::Papers => ("Giấy tờ cần mang", "Papers to bring"),
        S::Fee => ("Lệ phí", "Fee"),
        S::Days => ("Thời gian giải quyết", "Processing time"),
        S::DaysN => ("{} ngày làm việc", "{} working days"),
        S::Steps => ("Các bước", "Steps"),
        S::AskTitle => ("Gửi câu hỏi hoặc yêu cầu", "Send a question or a request"),
        S::AskKind => ("Bạn cần gì?", "What do you need?"),
        S::Hamlet => ("Thôn", "Hamlet"),
        S::Name => ("Họ và tên", "Full name"),
        S::Phone => ("Điện thoại", "Phone"),
        S::PhoneNote => (
            "Số điện thoại chỉ cán bộ xã xem được.",
            "Only commune officials can see your phone number.",
        ),
        S::Question => ("Nội dung", "Your message"),
        S::Public => (
            "Cho mọi người cùng xem (công khai)",
            "Let everyone see it (public)",
        ),
        S::Send => ("Gửi đi", "Send"),
        S::Sending => ("Đang gửi…", "Sending…"),
        S::Sent => ("Đã gửi! Mã tra cứu của bạn:", "Sent! Your tracking code:"),
        S::KeepCode => (
            "Hãy ghi lại mã này để xem câu trả lời ở mục Tra cứu.",
            "Write this code down to read the answer under Look up.",
        ),
        S::AskAnother => ("Gửi câu hỏi khác", "Send another"),
        S::PleaseFill => ("Vui lòng điền: {}", "Please fill in: {}"),
        S::TypingInto => ("Đang gõ vào: {}", "Typing into: {}"),
        S::TapAField => ("Chạm vào ô cần điền để gõ", "Tap a field to type into it"),
        S::LookupTitle => ("Tra cứu câu hỏi đã gửi", "Look up a request"),
        S::Code => ("Mã tra cứu", "Tracking code"),
        S::Find => ("Tìm", "Find"),
        S::NotFound => ("Không tìm thấy mã {}.", "No request with code {}."),
        S::Status => ("Tình trạng", "Status"),
        S::Answers => ("Trả lời của xã", "Answers from the commune"),
        S::NoAnswers => ("Chưa có trả lời.", "No answer yet."),
        S::Appointment => ("Lịch hẹn", "Appointment"),
        S::AtPlace => ("{} tại {}", "{} at {}"),
        S::From => ("Người gửi", "From"),
        S::PublicQa => ("Hỏi đáp công khai", "Public questions and answers"),
        S::NewNotice => ("Soạn thông báo mới", "Write a new notice"),
        S::EditNotice => ("Sửa thông báo", "Edit notice"),
        S::Title => ("Tiêu đề", "Title"),
        S::Body => ("Nội dung thông báo", "Notice text"),
        S::Category => ("Loại tin", "Category"),
        S::UrgentFlag => (
            "Khẩn cấp (hiện băng đỏ trên kiosk)",
            "Urgent (red banner on kiosks)",
        ),
        S::StartsField => ("Thời gian diễn ra", "Event time"),
        S::PlaceField => ("Địa điểm diễn ra", "Event place"),
        S::ValidUntilField => ("Hiệu lực đến ngày", "Valid until"),
        S::HamletsField => (
            "Các thôn (cách nhau bởi dấu phẩy; để trống là toàn xã)",
            "Hamlets (comma separated; empty means the whole commune)",
        ),
        S::TimeFormat => (
            "Cách ghi: giờ:phút ngày/tháng/năm, ví dụ 08:00 15/09/2026",
            "Write it as: hh:mm dd/mm/yyyy, e.g. 08:00 15/09/2026",
        ),
        S::Post => ("Đăng thông báo", "Post notice"),
        S::SaveChanges => ("Lưu thay đổi", "Save changes"),
        S::Cancel => ("Hủy", "Cancel"),
        S::Edit => ("Sửa", "Edit"),
        S::Withdraw => ("Thu hồi", "Withdraw"),
        S::Withdrawn => ("Đã thu hồi", "Withdrawn"),
        S::Expired => ("Hết hiệu lực", "Expired"),
        S::ReachCount => ("Đã đến {}/{} máy", "Reached {}/{} devices"),
        S::ReachTitle => ("Nơi đã nhận", "Received by"),
        S::HasLatest => ("có bản mới nhất", "has the latest version"),
        S::HasOlder => (
            "còn bản cũ, chưa nhận bản sửa",
            "still shows an older version",
        ),
        S::HasNewer => (
            "có bản mới hơn máy này",
            "has a newer version than this one",
        ),
        S::HasUnknown => ("chưa rõ bản nào", "version not known"),
        S::ReachNone => (
            "Chưa máy nào báo đã nhận.",
            "No device has reported it yet.",
        ),
        S::ShowReach => ("Xem nơi đã nhận", "Who has it"),
        S::BadTime => ("Thời gian không hợp lệ: {}", "Invalid time: {}"),
        S::Saved => ("Đã lưu.", "Saved."),
        S::ErrorPrefix => ("Lỗi: {}", "Error: {}"),
        S::FilterStatus => ("Lọc theo tình trạng", "Filter by status"),
        S::FilterHamlet => ("Lọc theo thôn", "Filter by hamlet"),
        S::All => ("Tất cả", "All"),
        S::Contact => ("Liên hệ", "Contact"),
        S::NoContact => ("không để lại số", "none given"),
        S::AnswerField => ("Câu trả lời", "Answer"),
        S::AppointmentAtField => ("Hẹn lúc (không bắt buộc)", "Appointment time (optional)"),
        S::AppointmentPlaceField => ("Hẹn tại", "Appointment place"),
        S::SendAnswer => ("Gửi trả lời", "Send answer"),
        S::MarkResolved => ("Đánh dấu đã giải quyết", "Mark resolved"),
        S::NoRequests => ("Không có yêu cầu nào.", "No requests."),
        S::ReplyTo => ("Trả lời {}", "Answer {}"),
        S::ResolvedNote => ("Đã giải quyết xong.", "Resolved."),
        S::ConfirmRevoke => ("Bấm lần nữa để thu hồi {}", "Tap again to revoke {}"),
        S::You => ("(máy này)", "(this device)"),
        S::Received => ("Nhận lúc", "Received"),
        S::RosterTitle => ("Các máy của xã", "The commune's devices"),
        S::NodeIdField => ("Mã máy cần thêm (node id)", "Node id of the new device"),
        S::RoleField => ("Vai trò", "Role"),
        S::DeviceName => ("Tên máy", "Device name"),
        S::DevicePlace => ("Nơi đặt máy", "Where it stands"),
        S::Enrol => ("Thêm máy", "Enrol device"),
        S::InviteIntro => (
            "Mã mời — nhập vào máy mới bằng lệnh: conglang join <mã mời>",
            "Invite — give it to the new device: conglang join <invite>",
        ),
        S::Revoke => ("Thu hồi quyền", "Revoke"),
        S::StepKind => ("Loại yêu cầu", "Kind of request"),
        S::StepReview => ("Xem lại và gửi", "Review and send"),
        S::StepOf => ("Bước {}: {}", "Step {}: {}"),
        S::Next => ("Tiếp", "Next"),
        S::WhatDoYouNeed => ("Bạn cần gì?", "What do you need?"),
        S::ReviewTitle => ("Xem lại trước khi gửi", "Check before sending"),
        S::ReadBack => ("{}. Câu hỏi của bạn: {}", "{}. Your question: {}"),
        S::RevokeSeniorOnly => (
            "Chỉ cán bộ xếp trên mới thu hồi được",
            "Only an official ranked above can revoke this one",
        ),
        S::Revoked => ("Đã thu hồi", "Revoked"),
        S::QuarantinedCount => (
            "{} thay đổi đang bị cách ly: không hợp lệ lúc này, được giữ lại nhưng không gửi đi",
            "{} changes set aside: not valid now, kept but not forwarded",
        ),
        S::Equivocated => (
            "Thiết bị này đã ký hai thay đổi trùng nhau: nên thu hồi",
            "This device signed two conflicting changes: consider revoking it",
        ),
        S::Member => ("Thành viên", "Member"),
        S::CourierTitle => ("Máy mang đi giữa các thôn", "Courier laptop"),
        S::BehindTitle => ("Thôn nào còn thiếu tin?", "Which villages are behind?"),
        S::UpToDate => ("Đã đủ tin", "Up to date"),
        S::MissingN => ("Thiếu {} thông báo", "Missing {} notices"),
        S::SentRefused => (
            "Đã gửi dữ liệu bị từ chối: {} thay đổi, lần cuối {}. Cân nhắc thu hồi máy này.",
            "Sent refused data: {} changes, last {}. Consider revoking this device.",
        ),
        S::NoReceipt => (
            "Chưa có biên nhận từ máy này",
            "No receipt from this device yet",
        ),
        S::FleetTitle => ("Tình trạng các máy", "Fleet health"),
        S::FleetDevice => ("Máy", "Device"),
        S::FleetSeen => ("Liên lạc", "Contact"),
        S::FleetVersion => ("Phiên bản", "Version"),
        S::FleetDisk => ("Ổ đĩa", "Disk"),
        S::FleetClock => ("Đồng hồ", "Clock"),
        S::FleetNotices => ("Thông báo", "Notices"),
        S::OnlineNow => ("Đang kết nối", "Online now"),
        S::NeverSeen => ("Chưa liên lạc", "Never seen"),
        S::JustNow => ("vừa xong", "just now"),
        S::MinutesAgo => ("{} phút trước", "{} min ago"),
        S::HoursAgo => ("{} giờ trước", "{} h ago"),
        S::DaysAgo => ("{} ngày trước", "{} days ago"),
        S::SpanMinutes => ("{} phút", "{} min"),
        S::SpanHours => ("{} giờ", "{} h"),
        S::SpanDays => ("{} ngày", "{} days"),
        S::SpanYears => ("{} năm", "{} years"),
        S::VersionOld => ("{} (cũ)", "{} (old)"),
        S::NotKnown => ("chưa rõ", "unknown"),
        S::DiskLow => ("Sắp đầy: còn {} MB", "Nearly full: {} MB left"),
        S::DiskFree => ("Còn {}", "{} free"),
        S::ClockOk => ("Đúng", "Right"),
        S::ClockBehind => ("Chậm {}", "{} behind"),
        S::ClockAhead => ("Nhanh {}", "{} ahead"),
        S::NotApplicable => ("—", "—"),
        S::MyClockWrong => (
            "Đồng hồ máy này sai ({} so với các máy khác). Giờ đúng khoảng {}. Hãy báo cán bộ xã chỉnh lại.",
            "This machine's clock is wrong ({} compared with the others). The right time is about {}. Please tell a commune official.",
        ),
        S::UpdatedAgo => ("Cập nhật {} từ {}", "Updated {} from {}"),
        S::Carries => ("Máy này đang mang", "This laptop carries"),
        S::CarriesCounts => (
            "{} thông báo, {} thủ tục, {} câu hỏi",
            "{} notices, {} procedures, {} requests",
        ),
        S::NavExchange => ("Trao đổi dữ liệu", "Data exchange"),
        S::ExchangeTitle => (
            "Trao đổi dữ liệu với các máy khác",
            "Exchanging data with other devices",
        ),
        S::ExchangeHint => (
            "Máy tự trao đổi tin khi ở cùng mạng với một máy khác của xã. Không cần bấm gì.",
            "This device exchanges data by itself when it shares a network with another device of the commune. Nothing to press.",
        ),
        S::ExchangingNow => ("Đang trao đổi", "Exchanging now"),
        S::ExchangingWith => ("Đang trao đổi với {}", "Exchanging with {}"),
        S::ExchangeStarting => (
            "Đang so sánh dữ liệu hai máy…",
            "Comparing the two devices' data…",
        ),
        S::ExchangeDone => (
            "{}: đã cập nhật xong, hai máy có cùng dữ liệu",
            "{}: up to date, both devices hold the same data",
        ),
        S::ConnectedNow => ("Đang nối với", "Connected to"),
        S::UrgentReceived => ("Đã nhận tin khẩn: {}", "Urgent notice received: {}"),
        S::UrgentComing => (
            "{} tin khẩn đang đến (nhận trước tiên)",
            "{} urgent notices coming (received first)",
        ),
        S::UrgentGoing => (
            "Đang gửi {} tin khẩn (gửi trước tiên)",
            "Sending {} urgent notices (sent first)",
        ),
        S::MovedCounts => (
            "Đã nhận {} mục, đã gửi {} mục",
            "Received {} items, sent {} items",
        ),
        S::LeftItems => ("còn khoảng {} mục", "about {} items left"),
        S::TimeLeft => ("còn khoảng {}", "about {} left"),
        S::Seconds => ("{} giây", "{} seconds"),
        S::Minutes => ("{} phút", "{} minutes"),
        S::NearbyTitle => ("Máy ở gần", "Devices nearby"),
        S::NearbyMember => ("{}: ở gần, chưa trao đổi", "{}: nearby, not exchanging"),
        S::NearbyStranger => (
            "Một máy không thuộc xã: không trao đổi",
            "A device not in this commune: no exchange",
        ),
        S::NoNearby => ("Chưa thấy máy nào ở gần.", "No device found nearby yet."),
        S::NeedsUpdate => (
            "{} dùng phiên bản Cổng Làng cũ: cần cập nhật phần mềm máy đó thì mới trao đổi được.",
            "{} runs an older Cổng Làng: update that device's software to exchange with it.",
        ),
        S::OlderPeer => (
            "{} dùng phiên bản Cổng Làng cũ hơn máy này: vẫn trao đổi được, nhưng nên cập nhật phần mềm máy đó.",
            "{} runs an older Cổng Làng than this device: exchanging still works, but update that device's software.",
        ),
        S::LastExchanges => ("Lần trao đổi gần nhất", "Last exchanges"),
        S::UpToDateWith => ("Đã cập nhật với {} lúc {}", "Up to date with {} at {}"),
        S::UpToDateWithOn => (
            "Đã cập nhật với {} lúc {} ngày {}",
            "Up to date with {} at {} on {}",
        ),
        S::NeverExchanged => (
            "Chưa trao đổi với máy nào.",
            "Not exchanged with any device yet.",
        ),
        S::TripTally => (
            "Chuyến này: mang đến {} mục, mang về {} mục",
            "This trip: brought {} items, took back {} items",
        ),
        S::TripNotMet => ("Chuyến này chưa gặp máy này", "Not met on this trip"),
        S::TripNone => (
            "Chuyến này chưa trao đổi với máy nào.",
            "No exchange yet on this trip.",
        ),
        S::TripSince => ("Chuyến này bắt đầu lúc {}", "This trip began at {}"),
        S::TripSinceOn => (
            "Chuyến này bắt đầu lúc {} ngày {}",
            "This trip began at {} on {}",
        ),
        S::NewTrip => ("Bắt đầu chuyến mới", "Start a new trip"),
        S::NewTripAsk => (
            "Xóa số liệu chuyến này và bắt đầu chuyến mới?",
            "Clear this trip's figures and start a new trip?",
        ),
        S::NewTripYes => ("Xóa và bắt đầu chuyến mới", "Clear and start a new trip"),
        S::MissingNUrgent => (
            "Thiếu {} thông báo, có {} tin khẩn",
            "Missing {} notices, {} urgent",
        ),
        S::UrgentMissing => (
            "Tin khẩn thôn này chưa có:",
            "Urgent notices this village lacks:",
        ),
        S::AndNMore => ("… và {} tin khác", "… and {} more"),
        S::TripUrgentIn => (
            "Tin khẩn mang về từ đây: {}",
            "Urgent notices taken back from here: {}",
        ),
        S::ThisNodeId => ("Mã máy này", "This device's id"),
        S::KbSpace => ("Dấu cách", "Space"),
        S::KbBackspace => ("Xóa", "Delete"),
        S::KbShift => ("Chữ hoa", "Shift"),
        S::KbNumbers => ("123", "123"),
        S::KbLetters => ("ABC", "ABC"),
        S::PublicShort => (
            "Cho mọi người xem — tên chỉ hiện rút gọn: {}",
            "Let everyone see it — name shown shortened: {}",
        ),
        S::PhoneNoteShort => ("Chỉ cán bộ xã xem", "Only officials see it"),
        S::LimitReached => (
            "Đã đủ {} ký tự, không gõ thêm được",
            "Full: at most {} characters",
        ),
        S::Unsupported => (
            "Máy không hiện được ký tự này",
            "This character cannot be shown",
        ),
        S::PhoneDigits => ("Chỉ gõ chữ số", "Digits only"),
        S::TooShort => (
            "Nội dung quá ngắn: hãy viết ít nhất {} ký tự",
            "Message too short: write at least {} characters",
        ),
        S::Paced => (
            "Máy vừa nhận nhiều yêu cầu liền nhau. Câu hỏi của bạn vẫn còn đây: vui lòng chờ {} phút {} giây rồi bấm Gửi đi.",
            "This kiosk has just taken many requests in a row. Your question is kept: please wait {} min {} s, then press Send.",
        ),
        S::SaveFailed => (
            "Chưa gửi được. Vui lòng bấm gửi lại; nếu vẫn không được, hãy báo cán bộ xã.",
            "Not sent. Please try again; if it still fails, tell a commune official.",
        ),
        S::SendAnotherWait => ("Gửi câu hỏi khác (chờ {} giây)", "Send another (wait {} s)"),
        S::CodeHint => (
            "Mã có dạng {} — không cần gõ chữ {} và dấu gạch.",
            "Codes look like {} — the letters {} and the dashes are optional.",
        ),
        S::LookupWait => (
            "Đã tra nhiều mã không có. Vui lòng kiểm tra lại mã, chờ {} giây rồi tra lại.",
            "Several codes were not found. Please check the code, wait {} seconds and try again.",
        ),
        S::HomeVisitPlace => (
            "Cán bộ xã sẽ đến nhà bạn.",
            "A commune official will come to your home.",
        ),
        S::SelectRequest => ("Chọn {}", "Select {}"),
        S::MarkJunk => ("Đánh dấu là rác ({})", "Mark as junk ({})"),
        S::SelectAllShown => ("Chọn tất cả đang hiện", "Select all shown"),
        S::ClearSelection => ("Bỏ chọn", "Clear selection"),
        S::TimeUnreadable => (
            "{}: chưa đọc được, hãy ghi như 08:00 15/09/2026",
            "{}: cannot read it, write it like 08:00 15/09/2026",
        ),
        S::TwoDigitYear => (
            "{}: năm phải đủ 4 chữ số (2026, không phải 26)",
            "{}: the year needs 4 digits (2026, not 26)",
        ),
        S::PastTime => ("{}: thời gian này đã qua", "{}: that time has passed"),
        S::NeedsDate => (
            "{}: thiếu ngày/tháng/năm",
            "{}: the date (day/month/year) is missing",
        ),
        S::NeedsPlace => (
            "Đã có giờ hẹn: hãy ghi cả nơi hẹn",
            "There is a time: write the place too",
        ),
        S::NeedsTime => (
            "Đã có nơi hẹn: hãy ghi cả giờ hẹn",
            "There is a place: write the time too",
        ),
        S::Optional => ("không bắt buộc", "optional"),
        S::ReadAloud => ("Đọc to", "Read aloud"),
        S::StopReading => ("Dừng đọc", "Stop reading"),
        S::StoreFailed => (
            "Máy đang gặp lỗi dữ liệu. Hãy báo cán bộ xã.",
            "This device has a data problem. Please tell a commune official.",
        ),
        S::MarkedJunk => (
            "Đã đánh dấu {} yêu cầu là rác.",
            "Marked {} requests as junk.",
        ),
        S::WaitingTitle => ("Đang chờ gia nhập xã", "Waiting to join a commune"),
        S::WaitingBody => (
            "Nhờ cán bộ xã mở mục «Thiết bị» trên máy văn phòng và chọn máy này: «{}». Hai màn hình sẽ hiện cùng một mã 6 số để so.",
            "Ask a commune official to open Devices on the office computer and pick this machine: “{}”. Both screens will then show the same 6-digit code to compare.",
        ),
        S::WaitingShortId => ("Mã máy: {}", "Machine id: {}"),
        S::PairConnecting => ("Đang kết nối…", "Connecting…"),
        S::PairCodeMachine => (
            "So mã này với mã trên máy văn phòng xã:",
            "Compare this code with the one on the office computer:",
        ),
        S::PairCodeOffice => (
            "So mã này với mã trên máy mới:",
            "Compare this code with the one on the new machine:",
        ),
        S::PairMatch => ("Mã khớp", "The codes match"),
        S::PairNoMatch => ("Không khớp", "They differ"),
        S::PairWaitOffice => (
            "Đã xác nhận. Đang chờ cán bộ xã xác nhận trên máy văn phòng…",
            "Confirmed. Waiting for the official to confirm at the office…",
        ),
        S::PairWaitMachine => (
            "Đang chờ người ở máy mới bấm «Mã khớp»…",
            "Waiting for the person at the new machine to press “The codes match”…",
        ),
        S::PairMachineConfirmed => (
            "Máy mới đã bấm «Mã khớp».",
            "The new machine says the codes match.",
        ),
        S::PairJoined => ("Đã gia nhập {}.", "Joined {}."),
        S::PairFailedTitle => ("Chưa ghép nối được", "Pairing did not complete"),
        S::PairRetry => (
            "Không có máy nào được thêm. Có thể thử lại.",
            "Nothing was enrolled. You can try again.",
        ),
        S::PairClose => ("Đóng", "Close"),
        S::ReasonOfficeNo => (
            "Cán bộ xã báo mã không khớp.",
            "The office said the codes differ.",
        ),
        S::ReasonMachineNo => (
            "Máy mới báo mã không khớp.",
            "The new machine said the codes differ.",
        ),
        S::ReasonTimeout => (
            "Hết thời gian (2 phút) mà chưa xác nhận xong.",
            "Nobody confirmed within 2 minutes.",
        ),
        S::ReasonAlready => (
            "Máy này đã được thêm với vai trò «{}». Muốn đổi vai trò phải thu hồi máy này rồi cài lại với khóa mới.",
            "This machine is already enrolled as “{}”. Another role needs a revocation and a new key.",
        ),
        S::ReasonRevoked => (
            "Máy này đã bị thu hồi; phải cài lại với khóa mới.",
            "This machine was revoked; it needs a new key.",
        ),
        S::ReasonBusy => (
            "Máy mới đang ghép nối với máy khác.",
            "The new machine is pairing with another computer.",
        ),
        S::ReasonNotWaiting => (
            "Máy kia không còn ở màn hình chờ gia nhập.",
            "The other machine is no longer waiting to join.",
        ),
        S::ReasonBadCommit => (
            "Máy văn phòng gửi mã sai quy tắc: không tin được, không gia nhập.",
            "The office broke the code rules: not trusted, not joined.",
        ),
        S::ReasonLost => (
            "Mất kết nối giữa hai máy.",
            "The connection between the machines was lost.",
        ),
        S::UsbTitle => (
            "Không có mạng tới văn phòng xã?",
            "No network to the commune office?",
        ),
        S::UsbBody => (
            "Cắm USB, bấm «Ghi mã máy ra USB» rồi mang USB lên văn phòng xã. Khi USB có tệp mời, cắm lại và bấm «Đọc tệp mời từ USB».",
            "Plug in a USB stick, press “Write this machine's id to USB” and take it to the office. With the invite on it, plug it back in and press “Read the invite from USB”.",
        ),
        S::UsbWriteId => ("Ghi mã máy ra USB", "Write this machine's id to USB"),
        S::UsbReadInvite => ("Đọc tệp mời từ USB", "Read the invite from USB"),
        S::UsbIdWritten => (
            "Đã ghi {} — mang USB lên văn phòng xã.",
            "Wrote {} — take the stick to the office.",
        ),
        S::UsbNoInvite => (
            "Không thấy tệp mời cho máy này trên USB.",
            "No invite for this machine on the USB stick.",
        ),
        S::UsbNoStick => (
            "Không thấy USB. Cắm USB rồi thử lại.",
            "No USB stick found. Plug one in and try again.",
        ),
        S::NewMachinesTitle => ("Máy mới đang chờ gia nhập", "New machines waiting to join"),
        S::NewMachinesNone => (
            "Chưa thấy máy mới nào trong mạng. Máy mới phải đang hiện «Đang chờ gia nhập xã».",
            "No new machine on the network yet. The new machine must show “Waiting to join a commune”.",
        ),
        S::PairWith => ("Ghép nối {}", "Pair {}"),
        S::AlreadyIn => ("đã có trong danh sách: {}", "already enrolled: {}"),
        S::PairingWith => ("Ghép nối với «{}»", "Pairing with “{}”"),
        S::PairConfirmOffice => ("Mã khớp — thêm máy", "The codes match — enrol"),
        S::PairEnrolled => ("Đã thêm «{}» vào xã.", "Enrolled “{}”."),
        S::UsbFindIds => ("Tìm mã máy trên USB", "Look for machine ids on USB"),
        S::FromUsb => ("từ USB", "from USB"),
        S::UsbEnrol => (
            "Thêm và ghi tệp mời ra USB",
            "Enrol and write the invite to USB",
        ),
        S::UsbInviteWritten => (
            "Đã ghi tệp mời {} — mang USB về máy mới.",
            "Wrote the invite {} — take the stick to the new machine.",
        ),
        S::UsbNoIds => (
            "Không thấy tệp mã máy (.conglang-id) trên USB.",
            "No machine id files (.conglang-id) on the USB stick.",
        ),
        S::UsbBadInvite => (
            "Tệp mời trên USB không dùng được cho máy này (lý do đã ghi vào nhật ký). Hãy nhờ văn phòng xã ghi tệp mới.",
            "The invite on the USB stick cannot be used on this machine (the reason is in the log). Ask the office for a new one.",
        ),
        S::PairError => (
            "Có lỗi khi ghép nối (lý do đã ghi vào nhật ký).",
            "Pairing failed (the reason is in the log).",
        ),
        S::InviteToUsb => ("Ghi tệp mời ra USB", "Write the invite to USB"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_in_order() {
        assert_eq!(
            Lang::Vi.fill(S::UpdatedAt, &["08:05", "UBND xã"]),
            "Cập nhật lúc 08:05 từ UBND xã"
        );
        assert_eq!(Lang::En.fill(S::DaysN, &["3"]), "3 working days");
    }
}
