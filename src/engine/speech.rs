//! Text to speech with libespeak-ng (its default English voice), synthesized in memory: the
//! prompts of alert calls (`--say`). One synthesis at a time (the library is not reentrant).
//!
//! The library is loaded (dlopen) when speech is first made, not at start: it brings some 25
//! libraries of its own (PulseAudio, X11, libsndfile...) that an idle phone does not need. Once
//! loaded it stays for the life of the process.

use std::ffi::{c_char, c_int, c_short, c_uint, c_void, CString};
use std::sync::Mutex;

use libloading::Library;

/// The library's file name (its soname, in Debian's libespeak-ng1).
const LIBRARY: &str = "libespeak-ng.so.1";

// The few declarations of espeak-ng's speak_lib.h (API revision 12) that we use.
/// `espeak_AUDIO_OUTPUT`: AUDIO_OUTPUT_SYNCHRONOUS, samples to the callback, no audio device.
const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// espeakINITIALIZE_DONT_EXIT: without it, missing data makes the library call exit(1).
const INITIALIZE_DONT_EXIT: c_int = 0x8000;
/// `espeak_ERROR`: EE_OK.
const EE_OK: c_int = 0;
/// `espeak_POSITION_TYPE`: POS_CHARACTER.
const POS_CHARACTER: c_int = 1;
/// espeakCHARS_UTF8.
const CHARS_UTF8: c_uint = 1;

/// `espeak_EVENT`; we read only `user_data`.
#[repr(C)]
struct Event {
    kind: c_int,
    unique_identifier: c_uint,
    text_position: c_int,
    length: c_int,
    audio_position: c_int,
    sample: c_int,
    user_data: *mut c_void,
    id: EventId,
}

/// The `id` union of `espeak_EVENT`.
#[repr(C)]
union EventId {
    number: c_int,
    name: *const c_char,
    string: [c_char; 8],
}

/// `t_espeak_callback`.
type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut Event) -> c_int;

/// The functions we call, resolved in the loaded library.
struct Espeak {
    initialize: unsafe extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int,
    set_synth_callback: unsafe extern "C" fn(Option<SynthCallback>),
    set_voice_by_name: unsafe extern "C" fn(*const c_char) -> c_int,
    synth: unsafe extern "C" fn(
        *const c_void,
        usize,
        c_uint,
        c_int,
        c_uint,
        c_uint,
        *mut c_uint,
        *mut c_void,
    ) -> c_int,
    synchronize: unsafe extern "C" fn() -> c_int,
    /// Keeps the functions above valid; never unloaded (the state below is a static).
    _library: Library,
}

/// The library, loaded and initialised once, with its sample rate; the reason when it could
/// not be. The lock also keeps synthesis to one thread at a time.
static SPEECH: Mutex<Option<Result<(Espeak, u32), String>>> = Mutex::new(None);

impl Espeak {
    /// Loads `file` and resolves the functions.
    fn load(file: &str) -> Result<Espeak, String> {
        // SAFETY: loading runs the initialisers of libespeak-ng and of the libraries it needs,
        // which set up their own state only (no audio device is opened until espeak_Initialize
        // asks for one, and we ask for none).
        let library = unsafe { Library::new(file) }.map_err(|e| {
            format!("espeak-ng cannot be loaded ({e}; is libespeak-ng1 installed?)")
        })?;
        let missing = |e: libloading::Error| format!("{file} is not a usable espeak-ng ({e})");
        // SAFETY: each symbol is declared with its signature in speak_lib.h (see the types
        // above); the pointers are used only while `library`, kept in the struct, is loaded.
        unsafe {
            Ok(Espeak {
                initialize: *library.get(b"espeak_Initialize\0").map_err(missing)?,
                set_synth_callback: *library.get(b"espeak_SetSynthCallback\0").map_err(missing)?,
                set_voice_by_name: *library.get(b"espeak_SetVoiceByName\0").map_err(missing)?,
                synth: *library.get(b"espeak_Synth\0").map_err(missing)?,
                synchronize: *library.get(b"espeak_Synchronize\0").map_err(missing)?,
                _library: library,
            })
        }
    }

    /// Loads the library and starts it: synchronous output, English voice; its sample rate.
    fn start() -> Result<(Espeak, u32), String> {
        let espeak = Espeak::load(LIBRARY)?;
        match espeak.set_up() {
            Ok(rate) => Ok((espeak, rate)),
            Err(e) => {
                // It stays loaded all the same: espeak_Initialize may have left state in it.
                std::mem::forget(espeak);
                Err(e)
            }
        }
    }

    /// Synchronous output, the English voice; the sample rate.
    fn set_up(&self) -> Result<u32, String> {
        // SAFETY: synchronous output (no audio device), the default data path.
        let rate = unsafe {
            (self.initialize)(
                AUDIO_OUTPUT_SYNCHRONOUS,
                0,
                std::ptr::null(),
                INITIALIZE_DONT_EXIT,
            )
        };
        if rate <= 0 {
            return Err("espeak-ng cannot start (is espeak-ng-data installed?)".into());
        }
        // SAFETY: the callback is ours, has the library's signature and lives for the program.
        unsafe { (self.set_synth_callback)(Some(collect)) };
        // SAFETY: a static NUL-terminated name.
        if unsafe { (self.set_voice_by_name)(c"en".as_ptr()) } != EE_OK {
            return Err("espeak-ng has no English voice".into());
        }
        Ok(rate as u32)
    }
}

/// Gathers the samples of one synthesis (the callback's user data).
struct Sink(Vec<i16>);

unsafe extern "C" fn collect(wav: *mut c_short, count: c_int, events: *mut Event) -> c_int {
    let caught = std::panic::catch_unwind(|| {
        if wav.is_null() || count <= 0 || events.is_null() {
            return;
        }
        // SAFETY: espeak-ng passes its event list (at least the terminating event) with the
        // user data of the espeak_Synth call, our Sink, alive until espeak_Synth returns.
        let sink = unsafe { (*events).user_data as *mut Sink };
        if sink.is_null() {
            return;
        }
        // SAFETY: `count` samples at `wav`, valid during the callback.
        let samples = unsafe { std::slice::from_raw_parts(wav, count as usize) };
        // SAFETY: the Sink is only touched by this callback, on the synthesizing thread.
        unsafe { (*sink).0.extend_from_slice(samples) };
    });
    // 0: go on; 1: stop (after a panic, which stays on our side).
    c_int::from(caught.is_err())
}

/// `text` as mono 16-bit samples, and their rate.
pub fn synthesize(text: &str) -> Result<(Vec<i16>, u32), String> {
    let c_text = CString::new(text).map_err(|_| "the text holds a NUL character".to_string())?;
    let mut state = SPEECH.lock().unwrap_or_else(|e| e.into_inner());
    let (espeak, rate) = match state.get_or_insert_with(Espeak::start) {
        Ok((espeak, rate)) => (&*espeak, *rate),
        Err(e) => return Err(e.clone()),
    };
    let mut sink = Sink(Vec::new());
    // SAFETY: the text is NUL-terminated UTF-8 with its size; `sink` outlives the call, which
    // returns when synthesis is over (synchronous mode); the lock keeps it single-threaded.
    let status = unsafe {
        (espeak.synth)(
            c_text.as_ptr().cast(),
            c_text.as_bytes_with_nul().len(),
            0,
            POS_CHARACTER,
            0,
            CHARS_UTF8,
            std::ptr::null_mut(),
            &mut sink as *mut Sink as *mut c_void,
        )
    };
    if status != EE_OK {
        return Err(format!(
            "espeak-ng could not speak the text (error {status})"
        ));
    }
    // SAFETY: waits for the synthesis (already over in synchronous mode).
    unsafe { (espeak.synchronize)() };
    drop(state);
    if sink.0.is_empty() {
        return Err("espeak-ng made no audio".into());
    }
    Ok((sink.0, rate))
}

#[cfg(test)]
mod tests {
    use super::{synthesize, Espeak};

    #[test]
    fn speech_is_made_in_memory_with_a_length_that_follows_the_text() {
        let (short, rate) = synthesize("Hello.").expect("espeak-ng speaks");
        let (long, rate2) =
            synthesize("The temperature in the server room is above forty degrees.").unwrap();
        assert_eq!(rate, rate2);
        assert!((8000..=48000).contains(&rate), "{rate}");
        let secs = |x: &[i16]| x.len() as f64 / f64::from(rate);
        assert!(secs(&short) > 0.2 && secs(&short) < 2.0, "{}", secs(&short));
        assert!(
            secs(&long) > 2.0 * secs(&short),
            "{} vs {}",
            secs(&long),
            secs(&short)
        );
        let rms =
            (long.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / long.len() as f64).sqrt();
        assert!(rms > 500.0, "speech has energy: {rms}");
        assert!(synthesize("a\0b").is_err());
    }

    #[test]
    fn a_missing_library_is_an_error_that_names_the_package() {
        let e = Espeak::load("libespeak-ng-absent.so.1")
            .err()
            .expect("no such library");
        assert!(e.contains("cannot be loaded"), "{e}");
        assert!(e.contains("libespeak-ng-absent.so.1"), "{e}");
        assert!(e.contains("libespeak-ng1"), "{e}");
        // A library without espeak-ng's functions is refused too, not called.
        let e = Espeak::load("libc.so.6")
            .err()
            .expect("libc has no espeak_Initialize");
        assert!(e.contains("espeak_Initialize"), "{e}");
    }
}
