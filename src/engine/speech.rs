//! Text to speech with libespeak-ng (its default English voice), synthesized in memory: the
//! prompts of alert calls (`--say`). One synthesis at a time (the library is not reentrant).

use std::ffi::{c_int, c_short, c_void, CString};
use std::sync::Mutex;

use espeakng_sys as es;

/// The library, initialised once; `None` when it could not be.
static SPEECH: Mutex<Option<Result<u32, String>>> = Mutex::new(None);

/// Gathers the samples of one synthesis (the callback's user data).
struct Sink(Vec<i16>);

unsafe extern "C" fn collect(
    wav: *mut c_short,
    count: c_int,
    events: *mut es::espeak_EVENT,
) -> c_int {
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
    let rate = state
        .get_or_insert_with(|| {
            // SAFETY: synchronous output (no audio device), the default data path.
            let rate = unsafe {
                es::espeak_Initialize(
                    es::espeak_AUDIO_OUTPUT_AUDIO_OUTPUT_SYNCHRONOUS,
                    0,
                    std::ptr::null(),
                    0,
                )
            };
            if rate <= 0 {
                return Err("espeak-ng cannot start (is espeak-ng-data installed?)".into());
            }
            // SAFETY: the callback is ours and lives for the program.
            unsafe { es::espeak_SetSynthCallback(Some(collect)) };
            // SAFETY: a static NUL-terminated name.
            if unsafe { es::espeak_SetVoiceByName(c"en".as_ptr()) } != es::espeak_ERROR_EE_OK {
                return Err("espeak-ng has no English voice".into());
            }
            Ok(rate as u32)
        })
        .clone()?;
    let mut sink = Sink(Vec::new());
    // SAFETY: the text is NUL-terminated UTF-8 with its size; `sink` outlives the call, which
    // returns when synthesis is over (synchronous mode); the lock keeps it single-threaded.
    let status = unsafe {
        es::espeak_Synth(
            c_text.as_ptr().cast(),
            c_text.as_bytes_with_nul().len(),
            0,
            es::espeak_POSITION_TYPE_POS_CHARACTER,
            0,
            es::espeakCHARS_UTF8,
            std::ptr::null_mut(),
            &mut sink as *mut Sink as *mut c_void,
        )
    };
    if status != es::espeak_ERROR_EE_OK {
        return Err(format!(
            "espeak-ng could not speak the text (error {status})"
        ));
    }
    // SAFETY: waits for the synthesis (already over in synchronous mode).
    unsafe { es::espeak_Synchronize() };
    drop(state);
    if sink.0.is_empty() {
        return Err("espeak-ng made no audio".into());
    }
    Ok((sink.0, rate))
}

#[cfg(test)]
mod tests {
    use super::synthesize;

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
}
