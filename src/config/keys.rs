//! Every `[Settings]` and `[AccountN]` key MicroSIP reads (spec §5.3, §5.4), one line each:
//! field, ini name, parsing rule and default. The structs, their defaults, reading, `--check`
//! output and the table-driven tests all come from these two tables.

use super::rules::{
    ini_enum, ini_struct, Choice, Count, Exact1, Flag, Int, KeepAlive, List, Not0, Port, PortList,
    RegisterRefresh, Text,
};

/// Most values are read into 256-character buffers (255 usable).
const SHORT: usize = 255;
/// `server`, `proxy`, `domain`, `username`, `password`, `authID`, `displayName`: 1040 chars.
const LONG: usize = 1039;
/// `audioCodecs`: 512 chars.
const CODECS: usize = 511;

const fn text(default: &'static str) -> Text {
    Text {
        default,
        cap: SHORT,
    }
}

const fn long_text() -> Text {
    Text {
        default: "",
        cap: LONG,
    }
}

const fn seconds(default: u32) -> Count {
    Count {
        default,
        unit: "seconds",
        empty_is_default: false,
    }
}

const fn number(default: u32) -> Count {
    Count {
        default,
        unit: "units",
        empty_is_default: false,
    }
}

/// Volume sliders: an empty value also means 100.
const fn volume() -> Count {
    Count {
        default: 100,
        unit: "percent",
        empty_is_default: true,
    }
}

ini_enum! {
    /// `autoAnswer`: when incoming calls are answered automatically (§9).
    pub enum AutoAnswer {
        /// `""`: never.
        Off = [""],
        /// `button`: when the Auto-Answer toggle (`AA=1`) is on.
        Button = ["button"],
        /// `header`: when the INVITE asks for it (`X-AUTOANSWER`, `Call-Info`).
        Header = ["header"],
        /// `all`: always.
        All = ["all"],
    }
    aliases {
        "1" => All: "1 is not a MicroSIP value (some guides write AutoAnswer=1); read as \"all\": \
                     every call is answered automatically",
        "0" => Off: "0 is not a MicroSIP value (some guides write AutoAnswer=0); read as \"\": \
                     no automatic answer",
    }
}

ini_enum! {
    /// `autoAnswerCalls`: whether auto-answer may happen while other calls exist.
    pub enum AutoAnswerCalls {
        /// `""`: only when there is no other call.
        NoOtherCall = [""],
        /// `hold`: only when no other call is active (unheld).
        NoActiveCall = ["hold"],
        /// `all`: always.
        Always = ["all"],
    }
}

ini_enum! {
    /// `forwarding`: call forwarding mode (§8).
    pub enum Forwarding {
        /// `""`: off.
        Off = [""],
        /// `button`: when the Forward toggle (`FWD=1`) is on.
        Button = ["button"],
        /// `all`: always.
        All = ["all"],
    }
}

ini_enum! {
    /// `denyIncoming`: which incoming calls are rejected with 486 (§8).
    pub enum DenyIncoming {
        /// `""`: none.
        Off = [""],
        /// `button`: all, while Do-Not-Disturb (`DND=1`) is on.
        Button = ["button"],
        /// `user`: calls whose To user is not the account's username.
        User = ["user"],
        /// `domain`: calls whose To domain is not the account's domain.
        Domain = ["domain"],
        /// `userdomain`: calls whose To user or domain differ.
        UserDomain = ["userdomain"],
        /// `remotedomain`: calls from another domain than the account's.
        RemoteDomain = ["remotedomain"],
        /// `all`: every call.
        All = ["all"],
    }
}

ini_enum! {
    /// `DTMFMethod`: how DTMF digits are sent.
    pub enum DtmfMethod {
        /// `0`: RFC 2833, in-band if that fails.
        Auto = ["0", ""],
        /// `1`: in-band audio.
        InBand = ["1"],
        /// `2`: RFC 2833 only.
        Rfc2833 = ["2"],
        /// `3`: SIP INFO.
        SipInfo = ["3"],
    }
}

impl Default for DtmfMethod {
    /// MicroSIP's default, `0`.
    fn default() -> Self {
        DtmfMethod::Auto
    }
}

ini_enum! {
    /// `recordingFormat`: file format of call recordings.
    pub enum RecordingFormat {
        /// `""` or `mp3`: MP3.
        Mp3 = ["mp3", ""],
        /// `wav`: WAV.
        Wav = ["wav"],
    }
}

ini_enum! {
    /// `updatesInterval`: how often MicroSIP checks for updates (unused by a headless phone).
    pub enum UpdatesInterval {
        /// `""`: weekly.
        Weekly = [""],
        /// `daily`.
        Daily = ["daily"],
        /// `monthly`.
        Monthly = ["monthly"],
        /// `quarterly`.
        Quarterly = ["quarterly"],
        /// `never`.
        Never = ["never"],
        /// `always` (in MicroSIP's code, not its UI).
        Always = ["always"],
    }
}

ini_enum! {
    /// `defaultAction`: double-click action in MicroSIP's lists (UI only).
    pub enum DefaultAction {
        /// `""`: MicroSIP's default.
        Unset = [""],
        /// `call`.
        Call = ["call"],
        /// `video`.
        Video = ["video"],
        /// `message`.
        Message = ["message"],
    }
}

ini_enum! {
    /// `transport`: SIP transport of an account.
    pub enum Transport {
        /// `udp` (default): bound to the UDP transport.
        Udp = ["udp"],
        /// `tcp`: `;transport=tcp` on AoR, registrar, proxies and targets.
        Tcp = ["tcp"],
        /// `tls`: `;transport=tls` likewise.
        Tls = ["tls"],
        /// `""` (UI "UDP+TCP"): not bound, PJSIP chooses.
        Auto = [""],
    }
}

ini_enum! {
    /// `SRTP`: media encryption of an account.
    pub enum Srtp {
        /// `""`: off.
        Disabled = [""],
        /// `optional`.
        Optional = ["optional"],
        /// `mandatory`.
        Mandatory = ["mandatory"],
        /// `dtls-sdes`: mandatory, rtcp-mux, keying DTLS-SRTP then SDES.
        DtlsSdes = ["dtls-sdes"],
        /// `dtls`: mandatory, rtcp-mux, keying DTLS-SRTP.
        Dtls = ["dtls"],
    }
}

ini_enum! {
    /// `hideCID`: caller-id hiding. MicroSIP 3.22.3 reads it as a switch (`1`); 3.22.16 has
    /// `soft`/`hard` and reads `1` as `hard`.
    pub enum HideCid {
        /// `0` or `""`: caller id shown.
        Off = ["0", ""],
        /// `1` or `hard`: `Privacy: id` and an anonymous From.
        Hard = ["1", "hard"],
        /// `soft` (3.22.16): `Privacy: id` and the display name `Anonymous`.
        Soft = ["soft"],
    }
}

ini_struct! {
    /// The `[Settings]` section: global settings (spec §5.3), effective values after MicroSIP's
    /// rules and defaults.
    pub struct Settings, table SETTINGS_KEYS {
        /// `accountId`: the active SIP account, 0 for none (local IP calls only); see
        /// [`Config::active_account`](super::Config::active_account).
        account_id: u32 = "accountId", number(0);
        /// `singleMode`: one call at a time.
        single_mode: bool = "singleMode", Flag(true);
        /// `ringingSound`: ringtone file; empty means `ringtone.wav`.
        ringing_sound: String = "ringingSound", text("");
        /// `volumeRing`: ring and local-tone level in percent.
        volume_ring: u32 = "volumeRing", volume();
        /// `audioRingDevice`: device name for the ringtone; empty means the default device.
        audio_ring_device: String = "audioRingDevice", text("");
        /// `audioOutputDevice`: playback device name; empty means the default.
        audio_output_device: String = "audioOutputDevice", text("");
        /// `audioInputDevice`: capture device name; empty means the default.
        audio_input_device: String = "audioInputDevice", text("");
        /// `micAmplification`: software microphone boost.
        mic_amplification: bool = "micAmplification", Flag(false);
        /// `swLevelAdjustment`: adjust the microphone level in software.
        sw_level_adjustment: bool = "swLevelAdjustment", Flag(false);
        /// `audioCodecs`: enabled codecs (`name/rate/channels`) in priority order.
        audio_codecs: Vec<String> = "audioCodecs",
            List { default: "PCMA/8000/1 PCMU/8000/1", cap: CODECS, separators: &[' '],
                   max_items: usize::MAX };
        /// `VAD`: voice activity detection.
        vad: bool = "VAD", Flag(false);
        /// `EC`: echo canceller (20 ms tail).
        ec: bool = "EC", Flag(true);
        /// `forceCodec`: prefer our codec order on incoming calls.
        force_codec: bool = "forceCodec", Flag(false);
        /// `opusStereo`: opus in stereo at 96 kbit/s (turns EC off).
        opus_stereo: bool = "opusStereo", Flag(false);
        /// `disableMessaging`: ignore incoming SIP MESSAGE.
        disable_messaging: bool = "disableMessaging", Flag(false);
        /// `disableVideo` (video builds).
        disable_video: bool = "disableVideo", Exact1;
        /// `videoCaptureDevice` (video builds).
        video_capture_device: String = "videoCaptureDevice", text("");
        /// `videoCodec` (video builds).
        video_codec: String = "videoCodec", text("");
        /// `videoH264` (video builds).
        video_h264: bool = "videoH264", Not0;
        /// `videoH263` (video builds).
        video_h263: bool = "videoH263", Not0;
        /// `videoVP8` (video builds).
        video_vp8: bool = "videoVP8", Not0;
        /// `videoVP9` (video builds).
        video_vp9: bool = "videoVP9", Not0;
        /// `videoBitrate` in kbit/s (video builds).
        video_bitrate: u32 = "videoBitrate", number(0);
        /// `rport`: use rport (`disable_rport = !rport`).
        rport: bool = "rport", Not0;
        /// `sourcePort`: local SIP UDP port, 0 for automatic.
        source_port: u16 = "sourcePort", Port;
        /// `rtpPortMin`: first RTP port, 0 for automatic.
        rtp_port_min: u16 = "rtpPortMin", Port;
        /// `rtpPortMax`: last RTP port.
        rtp_port_max: u16 = "rtpPortMax", Port;
        /// `dnsSrvNs`: up to 4 name servers, used only with `dnsSrv`.
        dns_srv_ns: Vec<String> = "dnsSrvNs",
            List { default: "", cap: SHORT, separators: &[';', ','], max_items: 4 };
        /// `dnsSrv`: use `dnsSrvNs` (DNS SRV resolution).
        dns_srv: bool = "dnsSrv", Exact1;
        /// `STUN`: up to 8 STUN servers, used only with `enableSTUN`.
        stun: Vec<String> = "STUN",
            List { default: "", cap: SHORT, separators: &[';', ','], max_items: 8 };
        /// `enableSTUN`: use `STUN`.
        enable_stun: bool = "enableSTUN", Exact1;
        /// `recordingPath`: recordings folder (MicroSIP's portable default `Recordings`).
        recording_path: String = "recordingPath", text("Recordings");
        /// `recordingFormat`.
        recording_format: RecordingFormat = "recordingFormat", Choice(RecordingFormat::Mp3);
        /// `autoRecording`: record every call once connected.
        auto_recording: bool = "autoRecording", Flag(false);
        /// `recordingButton` (UI).
        recording_button: bool = "recordingButton", Flag(true);
        /// `buttonAC` (UI).
        button_ac: bool = "buttonAC", Flag(true);
        /// `buttonCONF` (UI).
        button_conf: bool = "buttonCONF", Flag(true);
        /// `DTMFMethod`.
        dtmf_method: DtmfMethod = "DTMFMethod", Choice(DtmfMethod::Auto);
        /// `autoAnswer`.
        auto_answer: AutoAnswer = "autoAnswer", Choice(AutoAnswer::Button);
        /// `autoAnswerDelay` in seconds, 0 for at once.
        auto_answer_delay: u32 = "autoAnswerDelay", seconds(0);
        /// `autoAnswerNumber`: wildcard patterns of callers that may be auto-answered (empty:
        /// anyone).
        auto_answer_number: Vec<String> = "autoAnswerNumber",
            List { default: "", cap: SHORT, separators: &[';', '|'], max_items: usize::MAX };
        /// `autoAnswerCalls`.
        auto_answer_calls: AutoAnswerCalls = "autoAnswerCalls",
            Choice(AutoAnswerCalls::NoOtherCall);
        /// `forwarding`.
        forwarding: Forwarding = "forwarding", Choice(Forwarding::Off);
        /// `forwardingNumber`: forwarding target.
        forwarding_number: String = "forwardingNumber", text("");
        /// `forwardingDelay` in seconds, 0 for at once.
        forwarding_delay: u32 = "forwardingDelay", seconds(0);
        /// `featureCodeCP`: call pickup prefix.
        feature_code_cp: String = "featureCodeCP", text("**");
        /// `featureCodeBT`: blind transfer DTMF prefix.
        feature_code_bt: String = "featureCodeBT", text("##");
        /// `featureCodeAT`: attended transfer DTMF prefix.
        feature_code_at: String = "featureCodeAT", text("*2");
        /// `enableFeatureCodeCP`: pick up calls by dialling `featureCodeCP`+number.
        enable_feature_code_cp: bool = "enableFeatureCodeCP", Flag(true);
        /// `enableFeatureCodeBT`: blind transfer by DTMF.
        enable_feature_code_bt: bool = "enableFeatureCodeBT", Flag(false);
        /// `enableFeatureCodeAT`: attended transfer by DTMF.
        enable_feature_code_at: bool = "enableFeatureCodeAT", Flag(false);
        /// `denyIncoming`.
        deny_incoming: DenyIncoming = "denyIncoming", Choice(DenyIncoming::Button);
        /// `usersDirectory`: remote phonebook URL.
        users_directory: String = "usersDirectory", text("");
        /// `defaultAction` (UI).
        default_action: DefaultAction = "defaultAction", Choice(DefaultAction::Unset);
        /// `enableMediaButtons`: keyboard media keys.
        enable_media_buttons: bool = "enableMediaButtons", Flag(false);
        /// `headsetSupport`: HID headset buttons.
        headset_support: bool = "headsetSupport", Flag(false);
        /// `localDTMF`: local DTMF tones, the auto-answer beep, the hang-up sound.
        local_dtmf: bool = "localDTMF", Flag(true);
        /// `enableLog`: write the PJSIP log file.
        enable_log: bool = "enableLog", Flag(false);
        /// `bringToFrontOnIncoming` (UI).
        bring_to_front_on_incoming: bool = "bringToFrontOnIncoming", Flag(true);
        /// `enableLocalAccount`: run the local IP account `[Account0]` next to the SIP account.
        enable_local_account: bool = "enableLocalAccount", Flag(false);
        /// `randomAnswerBox` (UI).
        random_answer_box: bool = "randomAnswerBox", Flag(false);
        /// `disableNameLookup`: no caller-name lookup in contacts.
        disable_name_lookup: bool = "disableNameLookup", Flag(false);
        /// `callWaiting`: accept a call while another exists.
        call_waiting: bool = "callWaiting", Flag(true);
        /// `multiMonitor` (UI).
        multi_monitor: bool = "multiMonitor", Flag(false);
        /// `networkChanges`: follow network changes.
        network_changes: bool = "networkChanges", Flag(true);
        /// `updatesInterval` (unused).
        updates_interval: UpdatesInterval = "updatesInterval", Choice(UpdatesInterval::Weekly);
        /// `checkUpdatesTime`: unix time of the last update check (unused).
        check_updates_time: i32 = "checkUpdatesTime", Int(0);
        /// `noResize` (UI).
        no_resize: bool = "noResize", Exact1;
        /// `userAgent`: SIP User-Agent; empty means the program's default.
        user_agent: String = "userAgent", text("");
        /// `autoHangUpTime`: hang up this many seconds after connecting, 0 for never.
        auto_hang_up_time: u32 = "autoHangUpTime", seconds(0);
        /// `rtpTimeout` (ours, not MicroSIP's): end a connected call with BYE when no RTP came
        /// from the other side for this many seconds while it should send (not on hold); 0
        /// never does.
        rtp_timeout: u32 = "rtpTimeout", seconds(60);
        /// `maxConcurrentCalls`: reject calls beyond this many, 0 for no limit.
        max_concurrent_calls: u32 = "maxConcurrentCalls", number(0);
        /// `inviteBurst` (ours): new calls accepted from one address within 10 s; more are
        /// answered 503 with Retry-After until it slows down (a scan or a flood); 0: no limit.
        invite_burst: u32 = "inviteBurst", number(5);
        /// `noIgnoreCall`: closing the ringing window declines.
        no_ignore_call: bool = "noIgnoreCall", Exact1;
        /// `cmdOutgoingCall`: hook for outgoing calls.
        cmd_outgoing_call: String = "cmdOutgoingCall", text("");
        /// `cmdIncomingCall`: hook for every incoming INVITE.
        cmd_incoming_call: String = "cmdIncomingCall", text("");
        /// `cmdCallRing`: hook when an incoming call rings.
        cmd_call_ring: String = "cmdCallRing", text("");
        /// `cmdCallAnswer`: hook when we answered.
        cmd_call_answer: String = "cmdCallAnswer", text("");
        /// `cmdCallAnswerVideo`: hook when we answered with video.
        cmd_call_answer_video: String = "cmdCallAnswerVideo", text("");
        /// `cmdCallBusy`: hook when a call ended busy (486/600/603).
        cmd_call_busy: String = "cmdCallBusy", text("");
        /// `cmdCallStart`: hook when a call connects.
        cmd_call_start: String = "cmdCallStart", text("");
        /// `cmdCallEnd`: hook when a call ends otherwise.
        cmd_call_end: String = "cmdCallEnd", text("");
        /// `webhookUrl` (ours, not MicroSIP's): POST every event, as JSON, to this http(s) URL.
        webhook_url: String = "webhookUrl", long_text();
        /// `tlsVerifyServer` (ours): refuse a TLS server whose certificate does not verify
        /// (MicroSIP never verifies; 0 does the same, for a lab PBX with a self-signed one).
        tls_verify_server: bool = "tlsVerifyServer", Flag(true);
        /// `tlsCaFile` (ours): the CAs to trust for TLS (PEM); empty means the system's store.
        tls_ca_file: String = "tlsCaFile", long_text();
        /// `tlsCertFile` (ours): the phone's own TLS certificate (PEM), for servers that ask.
        tls_cert_file: String = "tlsCertFile", long_text();
        /// `tlsPrivateKeyFile` (ours): the private key of `tlsCertFile` (PEM).
        tls_private_key_file: String = "tlsPrivateKeyFile", long_text();
        /// `minimized` (UI).
        minimized: bool = "minimized", Flag(false);
        /// `portKnockerHost`: host to knock before registering.
        port_knocker_host: String = "portKnockerHost", text("");
        /// `portKnockerPorts`: UDP ports to knock.
        port_knocker_ports: Vec<u16> = "portKnockerPorts", PortList;
        /// `mainX` (window geometry, kept for MicroSIP).
        main_x: i32 = "mainX", Int(0);
        /// `mainY` (window geometry).
        main_y: i32 = "mainY", Int(0);
        /// `mainW` (window geometry).
        main_w: i32 = "mainW", Int(0);
        /// `mainH` (window geometry).
        main_h: i32 = "mainH", Int(0);
        /// `messagesX` (window geometry).
        messages_x: i32 = "messagesX", Int(0);
        /// `messagesY` (window geometry).
        messages_y: i32 = "messagesY", Int(0);
        /// `messagesW` (window geometry).
        messages_w: i32 = "messagesW", Int(0);
        /// `messagesH` (window geometry).
        messages_h: i32 = "messagesH", Int(0);
        /// `ringinX` (window geometry).
        ringin_x: i32 = "ringinX", Int(0);
        /// `ringinY` (window geometry).
        ringin_y: i32 = "ringinY", Int(0);
        /// `callsWidth0` (column width).
        calls_width0: i32 = "callsWidth0", Int(0);
        /// `callsWidth1` (column width).
        calls_width1: i32 = "callsWidth1", Int(0);
        /// `callsWidth2` (column width).
        calls_width2: i32 = "callsWidth2", Int(0);
        /// `callsWidth3` (column width).
        calls_width3: i32 = "callsWidth3", Int(0);
        /// `callsWidth4` (column width).
        calls_width4: i32 = "callsWidth4", Int(0);
        /// `callsWidth5` (column width).
        calls_width5: i32 = "callsWidth5", Int(0);
        /// `contactsWidth0` (column width).
        contacts_width0: i32 = "contactsWidth0", Int(0);
        /// `contactsWidth1` (column width).
        contacts_width1: i32 = "contactsWidth1", Int(0);
        /// `contactsWidth2` (column width).
        contacts_width2: i32 = "contactsWidth2", Int(0);
        /// `volumeOutput`: speaker level in percent.
        volume_output: u32 = "volumeOutput", volume();
        /// `volumeInput`: microphone level in percent.
        volume_input: u32 = "volumeInput", volume();
        /// `activeTab` (UI).
        active_tab: i32 = "activeTab", Int(0);
        /// `FWD`: the Forward toggle.
        fwd: bool = "FWD", Flag(false);
        /// `AA`: the Auto-Answer toggle.
        aa: bool = "AA", Flag(false);
        /// `AC`: the Auto-Conference toggle.
        ac: bool = "AC", Flag(false);
        /// `DND`: the Do-Not-Disturb toggle.
        dnd: bool = "DND", Flag(false);
        /// `alwaysOnTop` (UI).
        always_on_top: bool = "alwaysOnTop", Flag(false);
        /// `enableShortcuts` (UI speed-dial panel).
        enable_shortcuts: bool = "enableShortcuts", Flag(false);
        /// `shortcutsBottom` (UI).
        shortcuts_bottom: bool = "shortcutsBottom", Flag(false);
        /// `lastCallNumber`: for redial.
        last_call_number: String = "lastCallNumber", text("");
        /// `lastCallHasVideo`.
        last_call_has_video: bool = "lastCallHasVideo", Exact1;
        /// `version`: the MicroSIP version that last wrote the file.
        version: String = "version", text("");
        /// `callsLastKey`: cursor of the `[Calls]` ring buffer (MicroSIP 3.22.3).
        calls_last_key: i32 = "callsLastKey", Int(-1);
    }
}

ini_struct! {
    /// An `[AccountN]` section (spec §5.4).
    pub struct Account, table ACCOUNT_KEYS {
        /// `label`: display name of the account (also part of recording file names).
        label: String = "label", text("");
        /// `server`: registrar `host[:port]`; empty means no REGISTER.
        server: String = "server", long_text();
        /// `proxy`: outbound proxies, space-separated.
        proxy: String = "proxy", long_text();
        /// `domain`: SIP domain; an account without one is ignored.
        domain: String = "domain", long_text();
        /// `username`: AoR user.
        username: String = "username", long_text();
        /// `password`: plain text (see [`Account::password_state`]).
        password: String = "password", long_text();
        /// `authID`: digest user name; empty means `username`.
        auth_id: String = "authID", long_text();
        /// `displayName`: display name in From/Contact.
        display_name: String = "displayName", long_text();
        /// `dialingPrefix`: put in front of dialled phone numbers.
        dialing_prefix: String = "dialingPrefix", text("");
        /// `dialPlan`: MicroSIP dial plan.
        dial_plan: String = "dialPlan", text("");
        /// `hideCID`.
        hide_cid: HideCid = "hideCID", Choice(HideCid::Off);
        /// `voicemailNumber`: enables MWI when set.
        voicemail_number: String = "voicemailNumber", text("");
        /// `SRTP`.
        srtp: Srtp = "SRTP", Choice(Srtp::Disabled);
        /// `transport`.
        transport: Transport = "transport", Choice(Transport::Udp);
        /// `publicAddr`: public address for RTP when STUN is off.
        public_addr: String = "publicAddr", text("");
        /// `registerRefresh`: registration expiry in seconds (at least 10).
        register_refresh: u32 = "registerRefresh", RegisterRefresh;
        /// `keepAlive`: keep-alive interval in seconds (at least 2).
        keep_alive: u32 = "keepAlive", KeepAlive;
        /// `registerRetry` (ours, not MicroSIP's): seconds between attempts to register again
        /// after the registrar failed or could not be reached (PJSUA's `reg_retry_interval`;
        /// MicroSIP leaves it at PJSUA's 300); 0 stops retrying.
        register_retry: u32 = "registerRetry", seconds(300);
        /// `publish`: PUBLISH presence.
        publish: bool = "publish", Exact1;
        /// `ICE`.
        ice: bool = "ICE", Exact1;
        /// `allowRewrite`: rewrite Via/Contact/SDP behind NAT.
        allow_rewrite: bool = "allowRewrite", Exact1;
        /// `disableSessionTimer`.
        disable_session_timer: bool = "disableSessionTimer", Exact1;
    }
}

/// The label of `[Account0]` when it has none.
pub const LOCAL_ACCOUNT_LABEL: &str = "Local (call by IP address)";

/// Whether an account's password can be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordState {
    /// Plain text (or empty): used as is.
    Plain,
    /// Looks like MicroSIP's encrypted form, which cannot be decrypted: the account cannot
    /// register until the password is entered in plain text.
    EncryptedUnreadable,
}

/// Whether a stored password looks like MicroSIP's encrypted form (spec §5.5): lowercase hex
/// of RC2 ciphertext (8-byte blocks) of an MFC-archived UTF-16 string with PKCS padding. Any
/// password of 2 characters or more encrypts to at least 16 bytes, so the form is lowercase
/// hex, a multiple of 16 digits and at least 32 long. Random ciphertext of that length has
/// both letters and digits; requiring both keeps long numeric PINs plain. Short hex-looking
/// passwords ("1234", "deadbeef") stay plain. Only a plain password that is itself 32, 48,
/// 64… lowercase hex digits, mixing letters and digits, is misread; such passwords are rare.
pub(crate) fn looks_encrypted(password: &str) -> bool {
    let b = password.as_bytes();
    b.len() >= 32
        && b.len().is_multiple_of(16)
        && b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        && b.iter().any(u8::is_ascii_digit)
        && b.iter().any(u8::is_ascii_lowercase)
}

impl Account {
    /// Whether [`Account::password`] can be used for registration.
    pub fn password_state(&self) -> PasswordState {
        if looks_encrypted(&self.password) {
            PasswordState::EncryptedUnreadable
        } else {
            PasswordState::Plain
        }
    }

    /// The local "call by IP" account's defaults (`[Account0]` absent).
    pub fn local_default() -> Account {
        Account {
            label: LOCAL_ACCOUNT_LABEL.to_string(),
            ..Account::default()
        }
    }
}

/// Old single-account keys that MicroSIP deletes from `[Settings]` when it moves them into
/// `[Account1]` (`AccountLoad(-2)`), less `STUN`, which is also the global STUN key and is kept.
pub(crate) const LEGACY_ACCOUNT_KEYS_REMOVED: &[&str] = &[
    "server",
    "proxy",
    "SRTP",
    "transport",
    "publicAddr",
    "publish",
    "ICE",
    "allowRewrite",
    "domain",
    "authID",
    "username",
    "passwordSize",
    "password",
    "id",
    "displayName",
];

/// Keys MicroSIP does not have but that guides mention; each gets a warning.
pub(crate) const NOT_MICROSIP_KEYS: &[(&str, &str)] = &[
    (
        "silenceThreshold",
        "not a MicroSIP key; ignored (MicroSIP has only VAD=0/1, no threshold)",
    ),
    (
        "autoAnswerHeader",
        "not a MicroSIP key; ignored (use autoAnswer=header)",
    ),
    (
        "ecTailLen",
        "not a MicroSIP key; ignored (EC=1 uses a 20 ms tail)",
    ),
    ("ptime", "not a MicroSIP key; ignored (20 ms packets)"),
    (
        "maxCalls",
        "not a MicroSIP key; ignored (use maxConcurrentCalls)",
    ),
    (
        "publicAddress",
        "not a MicroSIP key; ignored (use publicAddr in the [AccountN] section)",
    ),
    ("logLevel", "not a MicroSIP key; ignored (use enableLog=1)"),
    ("cmdCallHold", "not a MicroSIP key; ignored"),
];

/// `[Settings]` keys MicroSIP writes that this program keeps but does not use.
pub(crate) const UNUSED_MICROSIP_KEYS: &[&str] = &[
    "darkMode",
    "brandingState",
    "brandingUrl",
    "brandingLogoFile",
];

/// Why a key is not applied: MicroSIP's window and its state.
const NO_WINDOW: &str = "MicroSIP's window; this phone has none";
/// Why a key is not applied: video.
const NO_VIDEO: &str = "video; calls here are audio-only";
/// Why a key is not applied: the feature is not built yet.
const NOT_YET: &str = "not implemented here yet";

/// Keys of the two tables this phone reads and keeps on write-back but does not apply, and
/// why. A file that sets one to anything but MicroSIP's default gets one warning at start
/// (and from `--check`) naming them. Every other key of the tables is applied.
pub const NOT_APPLIED: &[(&str, &str)] = &[
    (
        "swLevelAdjustment",
        "levels are always set in software (cpal has no mixer control)",
    ),
    ("videoCaptureDevice", NO_VIDEO),
    ("videoCodec", NO_VIDEO),
    ("videoH264", NO_VIDEO),
    ("videoH263", NO_VIDEO),
    ("videoVP8", NO_VIDEO),
    ("videoVP9", NO_VIDEO),
    ("videoBitrate", NO_VIDEO),
    ("recordingButton", NO_WINDOW),
    ("buttonAC", NO_WINDOW),
    ("buttonCONF", NO_WINDOW),
    ("usersDirectory", NO_WINDOW),
    ("defaultAction", NO_WINDOW),
    ("enableMediaButtons", NO_WINDOW),
    ("headsetSupport", NO_WINDOW),
    ("bringToFrontOnIncoming", NO_WINDOW),
    ("randomAnswerBox", NO_WINDOW),
    ("disableNameLookup", NO_WINDOW),
    ("multiMonitor", NO_WINDOW),
    ("updatesInterval", NO_WINDOW),
    ("checkUpdatesTime", NO_WINDOW),
    ("noResize", NO_WINDOW),
    ("noIgnoreCall", NO_WINDOW),
    ("cmdCallAnswerVideo", NO_VIDEO),
    ("minimized", NO_WINDOW),
    ("mainX", NO_WINDOW),
    ("mainY", NO_WINDOW),
    ("mainW", NO_WINDOW),
    ("mainH", NO_WINDOW),
    ("messagesX", NO_WINDOW),
    ("messagesY", NO_WINDOW),
    ("messagesW", NO_WINDOW),
    ("messagesH", NO_WINDOW),
    ("ringinX", NO_WINDOW),
    ("ringinY", NO_WINDOW),
    ("callsWidth0", NO_WINDOW),
    ("callsWidth1", NO_WINDOW),
    ("callsWidth2", NO_WINDOW),
    ("callsWidth3", NO_WINDOW),
    ("callsWidth4", NO_WINDOW),
    ("callsWidth5", NO_WINDOW),
    ("contactsWidth0", NO_WINDOW),
    ("contactsWidth1", NO_WINDOW),
    ("contactsWidth2", NO_WINDOW),
    ("activeTab", NO_WINDOW),
    ("alwaysOnTop", NO_WINDOW),
    ("enableShortcuts", NO_WINDOW),
    ("shortcutsBottom", NO_WINDOW),
    ("lastCallNumber", NO_WINDOW),
    ("lastCallHasVideo", NO_WINDOW),
    ("callsLastKey", NO_WINDOW),
    ("publish", NOT_YET),
];

/// Keys with nothing to apply: `version` is the MicroSIP version that wrote the file, and
/// `disableVideo` can only agree with this phone (it has no video).
pub const NOTHING_TO_APPLY: &[&str] = &["version", "disableVideo"];
