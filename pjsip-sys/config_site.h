/* microsip's pjproject configuration. Copied into the build copy of pjproject as
 * pjlib/include/pj/config_site.h by pjsip-sys/build.rs; the source tree is never modified. */

/* No video: microsip is an audio phone. */
#define PJMEDIA_HAS_VIDEO 0

/* MicroSIP relies on PJSIP's default of 4 calls; an intercom or alerting box needs more. */
#define PJSUA_MAX_CALLS 256
/* PJSUA reserves every call slot at start, each with room for as many media as an SDP may
 * hold (PJSUA_MAX_CALL_MEDIA is PJMEDIA_MAX_SDP_MEDIA, 16 by default: 21.8 kB a call, 5.6 MB
 * for 256 calls, all of it touched). An audio phone uses one; 4 still answers offers that
 * add video or other media (declined). SDP media lines past the 4th are left out. */
#define PJMEDIA_MAX_SDP_MEDIA 4
#define PJSUA_MAX_ACC 16
/* PJSUA reserves and writes a presence record for every buddy it may hold (256 by default,
 * 300 kB of an idle phone); microsip subscribes to no buddy. */
#define PJSUA_MAX_BUDDIES 1
/* SIP and media sockets share one ioqueue. A call holds two sockets (RTP, RTCP), and a
 * closed socket's key waits PJ_IOQUEUE_KEY_FREE_DELAY (500 ms) before it is reused: 1,000
 * calls a second keep about 1,000 keys waiting (with 1024, calls at that rate failed with
 * PJ_ETOOMANY). pjsip-sys's FIXES make keys as sockets need them, so the limit costs
 * nothing until it is used. */
#define PJ_IOQUEUE_MAX_HANDLES 4096
/* Long-lived pools that grow under load (the user agent's dialog-set nodes, a transport's
 * state listeners) grew 512 bytes at a time: each block, made amid a burst of calls' short
 * blocks, stayed in the middle of freed memory and kept its pages (and its neighbours') from
 * going back to the system. They grow in 16 kB steps. */
#define PJSIP_POOL_INC_UA 16384
#define PJSIP_POOL_INC_TRANSPORT 16384
#define PJSUA_MAX_CONF_PORTS 600
#define PJSUA_MAX_PLAYERS 64
#define PJSUA_MAX_RECORDERS 64

/* Audio is ours (cpal); pjmedia only gets its null device. */
#define PJMEDIA_AUDIO_DEV_HAS_NULL_AUDIO 1

/* Answer an offer with every codec both sides have (MicroSIP's peers see PCMA and PCMU),
 * not only the first. */
#define PJMEDIA_SDP_NEG_ANSWER_MULTIPLE_CODECS 1

/* EC=1 (speex, 20 ms tail) cancels the echo and nothing else: PJSIP's speex canceller would
 * also run speex's automatic gain control and noise suppressor on the microphone, which
 * change its level and take steady sounds (a tone, a hum the caller should hear) away. */
#define PJMEDIA_SPEEX_AEC_USE_AGC 0
#define PJMEDIA_SPEEX_AEC_USE_DENOISE 0

/* DTLS-SRTP (MicroSIP's SRTP=dtls and dtls-sdes): keys agreed by a DTLS handshake on the
 * media path, authenticated by the a=fingerprint of the SDP. Needs OpenSSL, which the
 * configure step finds. */
#define PJMEDIA_SRTP_HAS_DTLS 1

/* IPv6 (--bind ::1, IPv6 registrars and peers): pjlib leaves it out by default. */
#define PJ_HAS_IPV6 1
