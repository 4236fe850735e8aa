/* The one header bindgen reads. */
#include <pjlib.h>
#include <pjlib-util.h>
#include <pjmedia.h>
#include <pjsip.h>
#include <pjsip_ua.h>
#include <pjsua-lib/pjsua.h>

/* Ours, added to pjsua_call.c by build.rs (FIXES): gives back the memory pages of the call
 * slots that are idle, under PJSUA's lock; returns how many pages that was. */
PJ_DECL(unsigned) pjsua_microsip_release_idle_call_slots(void);
