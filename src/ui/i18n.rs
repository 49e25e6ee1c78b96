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
    NavUpdates,
    UpdTitle,
    UpdThisMachine,
    UpdFoundTitle,
    UpdNoneFound,
    UpdVersionLine,
    UpdNotes,
    UpdFor,
    UpdDevicesN,
    UpdApprove,
    UpdBadFile,
    UpdUntrusted,
    UpdDamaged,
    UpdApproveFailed,
    UpdAlready,
    UpdApproved,
    UpdApprovedBy,
    UpdWithdrawn,
    UpdWithdraw,
    UpdStInstalled,
    UpdStReceiving,
    UpdStReady,
    UpdStTrying,
    UpdStRolledBack,
    UpdStRefused,
    UpdStNotYet,
    UpdStRollbackFailed,
    UpdInvalid,
    UpdContinue,
    UpdCarry,
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

mod table;
use table::table;

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
