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

/* Ours, added to timer.c by build.rs (FIXES): gives back the memory pages of the timer copies
 * no scheduled timer uses, under the heap's lock; returns how many pages stayed in use. */
PJ_DECL(unsigned) pj_timer_heap_microsip_release_idle(pj_timer_heap_t *ht);
