//! Builds pjproject 2.17 out of tree in OUT_DIR, links it statically and generates bindings.
//!
//! The source is found, in order, at `$PJPROJECT_DIR`, in the `pjproject/` submodule, or in the
//! cache that `scripts/fetch-pjproject.sh` fills (`target/pjproject-src/current`). It is copied
//! into OUT_DIR once, corrected there (`FIXES`) and configured with our `config_site.h`; the
//! source itself is never modified. A stamp over everything that shapes the C build lets later runs of this script (for
//! example after a bindgen allowlist change) skip the C build.

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "lazy.rs"]
mod lazy;

const PIN: &str = "2.17";

/// Options for pjproject's `aconfigure`; see ../shared/pjproject.md in the project docs.
const CONFIGURE_ARGS: &[&str] = &[
    "--enable-epoll",
    "--disable-video",
    "--disable-sound",
    "--with-external-srtp",
    "--with-external-speex",
    "--with-external-gsm",
    "--enable-speex-resample",
    "--disable-libwebrtc",
    "--disable-libyuv",
    "--disable-ilbc-codec",
    "--disable-g7221-codec",
    "--disable-opencore-amr",
    "--disable-bcg729",
    "--disable-v4l2",
    "--disable-sdl",
    "--disable-ffmpeg",
    "--disable-openh264",
    "--disable-upnp",
    "--disable-android-mediacodec",
    "--disable-pjsua2",
];

/// Corrections made to the copy in OUT_DIR before configuring, each an exact text that must
/// occur once: (file, text, replacement, why). Part of the stamp, so a change rebuilds.
const FIXES: &[(&str, &str, &str, &str)] = &[
    (
        DTLS,
        "        ds->got_keys = PJ_TRUE;\n",
        "        if (idx == RTP_CHANNEL)\n            ds->got_keys = PJ_TRUE;\n",
        "Without rtcp-mux, DTLS runs on the RTP and the RTCP channel. 2.17 marks the keys ready \
         when either handshake ends; if the RTCP one ends first, media start takes the RTP keys \
         and checks the RTP channel's certificate before that handshake is done, and the call \
         fails with PJMEDIA_SRTP_DTLS_EPEERNOCERT (488). Only the RTP channel's keys make SRTP \
         ready; the RTCP channel keeps starting SRTCP on its own when it completes.",
    ),
    // DTLS-SRTP starts when a call first needs it, not in pjsua_init: its start made the
    // certificate (an RSA-2048 key, 50 to 400 ms of one core) and initialised OpenSSL (tens
    // of ms and MBs of tables), and every start, so the first REGISTER, waited for it, on
    // phones that may never make a DTLS call.
    // The ioqueue (SIP and media sockets share it) made a key, with its mutex, for every
    // socket it could ever hold, at start: 2048 of them, ~0.7 MB of an idle phone's memory.
    // Keys are made as sockets need them, from a pool of the ioqueue's own (the caller's
    // pool is the endpoint's, used elsewhere), up to the same limit, and reused as before.
    (
        IOQUEUE,
        "    pj_ioqueue_key_t    free_list;\n#endif\n};\n",
        "    pj_ioqueue_key_t    free_list;\n\
         \x20   pj_pool_t          *key_pool;   /* microsip: keys made on demand */\n\
         \x20   pj_size_t           key_cnt;\n\
         #endif\n};\n",
        "the ioqueue's pool of keys, and their count",
    ),
    (
        IOQUEUE,
        "    /* Pre-create all keys according to max_fd */\n    for ( i=0; i<max_fd; ++i) {\n",
        "    /* microsip: no keys made ahead; pj_ioqueue_register_sock2 makes them */\n\
         \x20   ioqueue->key_pool = pj_pool_create(pool->factory, \"ioqkeys\", 4096, 65536, NULL);\n\
         \x20   if (!ioqueue->key_pool) {\n\
         \x20       pj_mutex_destroy(ioqueue->ref_cnt_mutex);\n\
         \x20       return PJ_ENOMEM;\n\
         \x20   }\n\
         \x20   ioqueue->key_cnt = 0;\n\
         \x20   for ( i=0; i<0; ++i) {\n",
        "no keys made at creation",
    ),
    (
        IOQUEUE,
        "    pj_assert(!pj_list_empty(&ioqueue->free_list));\n\
         \x20   if (pj_list_empty(&ioqueue->free_list)) {\n\
         \x20       status = PJ_ETOOMANY;\n\
         \x20       goto on_return;\n\
         \x20   }\n",
        "    if (pj_list_empty(&ioqueue->free_list)) {\n\
         \x20       /* microsip: a new key, while under the limit (ioqueue lock held) */\n\
         \x20       pj_ioqueue_key_t *made;\n\
         \x20       if (ioqueue->key_cnt >= ioqueue->max) {\n\
         \x20           status = PJ_ETOOMANY;\n\
         \x20           goto on_return;\n\
         \x20       }\n\
         \x20       made = PJ_POOL_ZALLOC_T(ioqueue->key_pool, pj_ioqueue_key_t);\n\
         \x20       status = pj_lock_create_recursive_mutex(ioqueue->key_pool, NULL, &made->lock);\n\
         \x20       if (status != PJ_SUCCESS)\n\
         \x20           goto on_return;\n\
         \x20       ++ioqueue->key_cnt;\n\
         \x20       pj_list_push_back(&ioqueue->free_list, made);\n\
         \x20   }\n",
        "a socket with no free key gets a new one (PJ_ETOOMANY only at the limit, no assert)",
    ),
    (
        IOQUEUE,
        "    pj_mutex_destroy(ioqueue->ref_cnt_mutex);\n#endif\n    return ioqueue_destroy(ioqueue);\n",
        "    pj_mutex_destroy(ioqueue->ref_cnt_mutex);\n\
         \x20   pj_pool_release(ioqueue->key_pool);\n\
         #endif\n    return ioqueue_destroy(ioqueue);\n",
        "the keys' pool goes with the ioqueue (their mutexes were destroyed just before)",
    ),
    // libsrtp starts with the first SRTP transport (pjmedia_transport_srtp_create starts it
    // under PJSUA's lock), not in pjsua_init: Debian's libsrtp2 uses NSS, whose start loads
    // its soft token, freebl and sqlite (measured: two thirds of the CPU from exec to the
    // first REGISTER, and their memory for the phone's lifetime).
    (
        "pjsip/src/pjsua-lib/pjsua_media.c",
        "    /* Initialize SRTP library (ticket #788). */\n    status = pjmedia_srtp_init_lib(pjsua_var.med_endpt);\n",
        "    /* microsip: libsrtp starts with the first SRTP transport */\n    status = PJ_SUCCESS;\n",
        "no libsrtp (NSS) start in pjsua_init",
    ),
    (
        SRTP,
        "    dtls_init();\n",
        "    /* microsip: DTLS-SRTP starts on first use (dtls_cert_ready) */\n",
        "no DTLS start (OpenSSL, certificate) in pjmedia_srtp_init_lib",
    ),
    (
        DTLS,
        "static pj_status_t ssl_generate_cert(X509 **p_cert, EVP_PKEY **p_priv_key);\n",
        "static pj_status_t ssl_generate_cert(X509 **p_cert, EVP_PKEY **p_priv_key);\n\
         #include <pthread.h>\n\
         static pj_status_t dtls_init();\n\
         static pthread_mutex_t dtls_start_lock = PTHREAD_MUTEX_INITIALIZER;\n\
         /* microsip: DTLS-SRTP's start (OpenSSL, profiles, certificate), by whichever thread\n\
         \x20  first needs it; again after pjmedia_srtp_deinit_lib. */\n\
         static pj_status_t dtls_cert_ready(void)\n\
         {\n\
         \x20   pj_status_t status = PJ_SUCCESS;\n\
         \x20   pthread_mutex_lock(&dtls_start_lock);\n\
         \x20   if (!dtls_cert || valid_profiles_cnt == 0)\n\
         \x20       status = dtls_init();\n\
         \x20   pthread_mutex_unlock(&dtls_start_lock);\n\
         \x20   return status;\n\
         }\n",
        "declares DTLS-SRTP's lazy start",
    ),
    (
        DTLS,
        "    /* Create DTLS context */\n    ctx = SSL_CTX_new(DTLS_method());\n",
        "    if (dtls_cert_ready() != PJ_SUCCESS)\n\
         \x20       return PJMEDIA_SRTP_DTLS_ENOPROFILE;\n\
         \x20   /* Create DTLS context */\n    ctx = SSL_CTX_new(DTLS_method());\n",
        "a handshake starts DTLS-SRTP if the SDP did not",
    ),
    (
        DTLS,
        "        status = ssl_get_fingerprint(dtls_cert, PJ_TRUE, buf, &buf_len);\n",
        "        status = dtls_cert_ready();\n\
         \x20       if (status == PJ_SUCCESS)\n\
         \x20           status = ssl_get_fingerprint(dtls_cert, PJ_TRUE, buf, &buf_len);\n",
        "the SDP's a=fingerprint starts DTLS-SRTP",
    ),
    (
        DTLS,
        "    PJ_ASSERT_RETURN(dtls_cert, PJ_EINVALIDOP);\n",
        "    if (dtls_cert_ready() != PJ_SUCCESS)\n        return PJ_EINVALIDOP;\n",
        "the fingerprint API starts DTLS-SRTP",
    ),
    // PJSUA put an SRTP adapter on every call's media, even with the account's SRTP off, where
    // the adapter only passes RTP through: it cost an eighth of the work on an incoming INVITE,
    // and libsrtp's start (NSS, 27 ms and 1.2 MB) on the first call. With SRTP off the call's
    // media transport is used as is, as in a build without SRTP; an offer of RTP/SAVP still
    // gets 488 (the negotiator rejects the transport, as the adapter did).
    (
        PJSUA_MEDIA,
        "    if (!call_med->tp_orig) {\n        pjmedia_srtp_setting srtp_opt;\n",
        "    if (!call_med->tp_orig && acc->cfg.use_srtp == PJMEDIA_SRTP_DISABLED) {\n\
         \x20       /* microsip: SRTP off, no adapter */\n\
         \x20       call_med->tp_orig = call_med->tp;\n\
         \x20   } else if (!call_med->tp_orig) {\n\
         \x20       pjmedia_srtp_setting srtp_opt;\n",
        "no SRTP adapter on a call whose account has SRTP off",
    ),
    // An MD5 digest (the REGISTER's answer to the registrar's challenge) went through
    // OpenSSL's EVP: its first use starts OpenSSL (its digests, providers and tables), 1.9 MB
    // of a registered phone's idle memory and time before the first REGISTER's retry.
    // PJSIP's own MD5 (its fallback where OpenSSL lacks MD5) computes it; OpenSSL starts for
    // SHA-256 digests, TLS and DTLS only.
    (
        AUTH_CLIENT,
        "    md = EVP_get_digestbyname(algorithm->openssl_name);\n    /* For MD5, if OpenSSL",
        "    /* microsip: MD5 by pjlib's MD5; OpenSSL starts for the other digests */\n\
         \x20   md = (algorithm->algorithm_type == PJSIP_AUTH_ALGORITHM_MD5) ? NULL :\n\
         \x20        EVP_get_digestbyname(algorithm->openssl_name);\n    /* For MD5, if OpenSSL",
        "MD5 digests without OpenSSL's EVP",
    ),
    (
        AUTH_CLIENT,
        "    if (algorithm->algorithm_type == PJSIP_AUTH_ALGORITHM_MD5 && !md5_evp_is_supported()) {\n",
        "    if (algorithm->algorithm_type == PJSIP_AUTH_ALGORITHM_MD5) {\n",
        "MD5 digests always by pjlib's MD5",
    ),
    // PJSUA made every call slot at start (256 of 6 kB, 1.5 MB) and wrote each one, so an
    // idle phone kept them all in memory. The slots are zeroed memory from calloc (pages the
    // kernel gives on first write) and a slot is written when a call takes it: both callers
    // of alloc_call_id reset the slot they get. A slot never taken reads as zero, which the
    // loops over all slots read as "no call" (inv and async_call.dlg NULL), as before.
    (
        PJSUA_CALL,
        "#include <pjsua-lib/pjsua_internal.h>\n",
        "#include <pjsua-lib/pjsua_internal.h>\n#include <stdlib.h>\n#include <sys/mman.h>\n\
         #include <unistd.h>\n",
        "calloc and madvise for the call slots",
    ),
    // A burst of calls left every slot it used in memory (PJSUA hands slots out
    // round-robin, so 256 calls in a row touch all 256: 1.7 MB that stayed after the burst).
    // The phone calls this at a quiet moment: each page of the array whose slots are all
    // idle is given back, and reads as zero again, which is a slot never taken (see above).
    // Idle: free (no invite session, no dialog) and holding nothing a later callback could
    // reach (no media transport, mutex, subscription, cloned request or running timer).
    // Under PJSUA's lock, as every write to a free slot is (alloc_call_id's callers).
    (
        PJSUA_CALL,
        "    pj_timer_entry_init(&call->trickle_ice.timer, 0, call,\n\
         \x20                       &trickle_ice_send_sip_info);\n}\n",
        "    pj_timer_entry_init(&call->trickle_ice.timer, 0, call,\n\
         \x20                       &trickle_ice_send_sip_info);\n}\n\
         \n\
         /* microsip: whether a call slot is free and holds nothing in use */\n\
         static pj_bool_t microsip_slot_idle(pjsua_call *call)\n{\n\
         \x20   unsigned i;\n\
         \x20   if (call->inv || call->async_call.dlg || call->async_call.pool_prov ||\n\
         \x20       call->hanging_up || call->incoming_data || call->med_ch_mutex ||\n\
         \x20       call->hold_msg || call->xfer_sub || call->hangup_msg_data ||\n\
         \x20       call->av_sync || call->med_cnt || call->med_prov_cnt)\n\
         \x20       return PJ_FALSE;\n\
         \x20   if (pj_timer_entry_running(&call->reinv_timer) ||\n\
         \x20       pj_timer_entry_running(&call->trickle_ice.timer) ||\n\
         \x20       pj_timer_entry_running(&call->hangup_timer))\n\
         \x20       return PJ_FALSE;\n\
         \x20   for (i = 0; i < PJ_ARRAY_SIZE(call->media); ++i) {\n\
         \x20       if (call->media[i].tp || call->media[i].tp_orig ||\n\
         \x20           call->media_prov[i].tp || call->media_prov[i].tp_orig)\n\
         \x20           return PJ_FALSE;\n\
         \x20   }\n\
         \x20   return PJ_TRUE;\n}\n\
         \n\
         /* microsip: gives back the pages of the call slots that are all idle; returns how\n\
         \x20* many pages that was */\n\
         PJ_DEF(unsigned) pjsua_microsip_release_idle_call_slots(void)\n{\n\
         \x20   long page = sysconf(_SC_PAGESIZE);\n\
         \x20   pj_size_t size = sizeof(pjsua_call), first, last, id, base, p, end;\n\
         \x20   unsigned released = 0;\n\
         \x20   pj_bool_t idle;\n\
         \n\
         \x20   if (page <= 0 || !pjsua_var.calls)\n\
         \x20       return 0;\n\
         \x20   PJSUA_LOCK();\n\
         \x20   base = (pj_size_t)pjsua_var.calls;\n\
         \x20   p = (base + (pj_size_t)page - 1) & ~((pj_size_t)page - 1);\n\
         \x20   end = (base + size * pjsua_var.ua_cfg.max_calls) & ~((pj_size_t)page - 1);\n\
         \x20   for (; p + (pj_size_t)page <= end; p += (pj_size_t)page) {\n\
         \x20       first = (p - base) / size;\n\
         \x20       last = (p + (pj_size_t)page - 1 - base) / size;\n\
         \x20       idle = PJ_TRUE;\n\
         \x20       for (id = first; id <= last && idle; ++id)\n\
         \x20           idle = microsip_slot_idle(&pjsua_var.calls[id]);\n\
         \x20       if (idle && madvise((void *)p, (pj_size_t)page, MADV_DONTNEED) == 0)\n\
         \x20           ++released;\n\
         \x20   }\n\
         \x20   PJSUA_UNLOCK();\n\
         \x20   return released;\n}\n",
        "idle call slots' pages given back",
    ),
    (
        PJSUA_CALL,
        "    pjsua_var.calls = (pjsua_call *)pj_pool_zalloc(pjsua_var.pool,\n\
         \x20                                                  sizeof(pjsua_call) *\n\
         \x20                                                  pjsua_var.ua_cfg.max_calls);\n\
         \x20   if (!pjsua_var.calls)\n\
         \x20       return PJ_ENOMEM;\n\
         \n\
         \x20   /* Init calls array. */\n\
         \x20   for (i = 0U; i < pjsua_var.ua_cfg.max_calls; ++i)\n\
         \x20       reset_call(i);\n",
        "    /* microsip: zeroed slots, each reset when a call takes it */\n\
         \x20   pjsua_var.calls = (pjsua_call *)calloc(pjsua_var.ua_cfg.max_calls,\n\
         \x20                                          sizeof(pjsua_call));\n\
         \x20   if (!pjsua_var.calls)\n\
         \x20       return PJ_ENOMEM;\n",
        "call slots made untouched, not all reset at start",
    ),
    (
        PJSUA_CORE,
        "#include <pjsua-lib/pjsua_internal.h>\n",
        "#include <pjsua-lib/pjsua_internal.h>\n#include <stdlib.h>\n",
        "free for the call slots",
    ),
    (
        PJSUA_CORE,
        "    /* Clear pjsua_var */\n    pj_bzero(&pjsua_var, sizeof(pjsua_var));\n",
        "    /* microsip: the call slots are calloc'd (pjsua_call_subsys_init) */\n\
         \x20   free(pjsua_var.calls);\n\
         \x20   /* Clear pjsua_var */\n    pj_bzero(&pjsua_var, sizeof(pjsua_var));\n",
        "the call slots go with pjsua",
    ),
    // A TLS listener whose port was taken (another phone on 5061) reported success: 2.17
    // overwrote the accept's error with the next step's status, so the phone announced a
    // port it did not hold, and TLS callers reached the other program. The error is
    // returned (pjsip_tls_transport_start2 then destroys the listener) and the caller falls
    // back to a free port as it does for TCP.
    (
        TLS_TRANSPORT,
        "    if (status == PJ_SUCCESS || status == PJ_EPENDING) {\n        pj_ssl_sock_info info;  \n",
        "    if (status != PJ_SUCCESS && status != PJ_EPENDING)\n\
         \x20       return status; /* microsip: the port is not ours */\n\
         \x20   {\n        pj_ssl_sock_info info;  \n",
        "a TLS listener that cannot bind fails",
    ),
    // PJSUA sent 100 Trying to every INVITE before asking the application. Ours answers
    // on_incoming_call at once, always (200, 180, a refusal or 302), so the 100 only
    // delayed that answer by a send. It is still sent while the call's media is being set up
    // in the background (ICE): then the answer may take a while. The unsent 100 is released
    // (the session holds its own reference for the answer it becomes; kept, it leaked a call).
    (
        PJSUA_CALL,
        "#if !PJSUA_DISABLE_AUTO_SEND_100\n        status = pjsip_inv_send_msg(inv, response);\n",
        "#if !PJSUA_DISABLE_AUTO_SEND_100\n\
         \x20       /* microsip: no 100 when the application answers now */\n\
         \x20       if (call->med_ch_cb) {\n\
         \x20           status = pjsip_inv_send_msg(inv, response);\n\
         \x20       } else {\n\
         \x20           /* the session keeps its own reference (last_answer) */\n\
         \x20           pjsip_tx_data_dec_ref(response);\n\
         \x20           status = PJ_SUCCESS;\n\
         \x20       }\n",
        "no 100 Trying before an answer made at once",
    ),
    // PJSUA checked an INVITE's offer twice: against a temporary answer made for the
    // purpose, then, once the call's media was set up, against the real one, with the same
    // refusals (488, 420). Without ICE the media is set up at once and the second check
    // follows right away, so the first only made the SDP twice on the way to the 200. It
    // stays when ICE (gathering in the background) or a Replaces would delay the second.
    (
        PJSUA_CALL,
        "        status = verify_request(call, rdata, PJ_TRUE, &sip_err_code, \n\
         \x20                               &response);\n",
        "        /* microsip: the real answer is checked right after when media is set up now */\n\
         \x20       if (pjsua_var.acc[acc_id].cfg.ice_cfg.enable_ice || replaced_dlg)\n\
         \x20           status = verify_request(call, rdata, PJ_TRUE, &sip_err_code,\n\
         \x20                                   &response);\n\
         \x20       else\n\
         \x20           status = PJ_SUCCESS;\n",
        "an INVITE's offer checked once",
    ),
    // The timer heap after a burst of calls: PJSIP grows its arrays (one copy of every timer,
    // 80 bytes, and two index arrays) by doubling them in its pool, and keeps each old one, and
    // a burst at 1,000 calls/s left 12,280 copies written (1 MB) with one timer running. The
    // old arrays' pages go back when they are replaced, and the phone asks at a quiet moment
    // for the pages of copies no running timer uses (insert_node writes a copy whole before it
    // is used; a free id's copy is read only by cancel_timer, which then finds the id free and
    // ignores what it read). Under the heap's lock, as every use is.
    (
        TIMER,
        "#include <pj/limits.h>\n",
        "#include <pj/limits.h>\n\
         #include <stdlib.h>\n\
         #include <sys/mman.h>\n\
         #include <unistd.h>\n\
         \n\
         /* microsip: gives back the whole pages of [start, start + len) (they read as zero again) */\n\
         static void microsip_release_pages(const void *start, pj_size_t len)\n\
         {\n\
         \x20   long page = sysconf(_SC_PAGESIZE);\n\
         \x20   pj_size_t a, b;\n\
         \n\
         \x20   if (page <= 0 || !start)\n\
         \x20       return;\n\
         \x20   a = ((pj_size_t)start + (pj_size_t)page - 1) & ~((pj_size_t)page - 1);\n\
         \x20   b = ((pj_size_t)start + len) & ~((pj_size_t)page - 1);\n\
         \x20   if (b > a)\n\
         \x20       madvise((void *)a, b - a, MADV_DONTNEED);\n\
         }\n",
        "a helper giving pages back",
    ),
    (
        TIMER,
        "    ht->timer_dups = new_timer_dups;\n",
        "    microsip_release_pages(ht->timer_dups, ht->max_size * sizeof(pj_timer_entry_dup));\n\
         \x20   ht->timer_dups = new_timer_dups;\n",
        "the old timer copies given back",
    ),
    (
        TIMER,
        "    ht->heap = new_heap;\n",
        "    microsip_release_pages(ht->heap, ht->max_size * sizeof(pj_timer_entry_dup *));\n\
         \x20   ht->heap = new_heap;\n",
        "the old heap array given back",
    ),
    (
        TIMER,
        "    //delete [] timer_ids_;\n\
         \x20   ht->timer_ids = new_timer_ids;\n",
        "    //delete [] timer_ids_;\n\
         \x20   microsip_release_pages(ht->timer_ids, ht->max_size * sizeof(pj_timer_id_t));\n\
         \x20   ht->timer_ids = new_timer_ids;\n",
        "the old timer ids given back",
    ),
    (
        TIMER,
        "static pj_status_t insert_node(pj_timer_heap_t *ht,\n",
        "/* microsip: gives back the pages of the timer copies no scheduled timer uses, and of the\n\
         \x20* heap array past its end; returns how many copies' pages stayed in use */\n\
         PJ_DEF(unsigned) pj_timer_heap_microsip_release_idle(pj_timer_heap_t *ht)\n\
         {\n\
         \x20   long page = sysconf(_SC_PAGESIZE);\n\
         \x20   pj_size_t i, a, b, first, last, n, run;\n\
         \x20   unsigned char *used;\n\
         \x20   unsigned kept = 0;\n\
         \n\
         \x20   if (!ht || page <= 0)\n\
         \x20       return 0;\n\
         \x20   lock_timer_heap(ht);\n\
         \x20   microsip_release_pages(ht->heap + ht->cur_size,\n\
         \x20                          (ht->max_size - ht->cur_size) * sizeof(pj_timer_entry_dup *));\n\
         #if PJ_TIMER_USE_COPY\n\
         \x20   a = ((pj_size_t)ht->timer_dups + (pj_size_t)page - 1) & ~((pj_size_t)page - 1);\n\
         \x20   b = ((pj_size_t)(ht->timer_dups + ht->max_size)) & ~((pj_size_t)page - 1);\n\
         \x20   n = b > a ? (b - a) / (pj_size_t)page : 0;\n\
         \x20   used = n ? (unsigned char *)calloc(n, 1) : NULL;\n\
         \x20   if (used) {\n\
         \x20       for (i = 0; i < ht->cur_size; ++i) {\n\
         \x20           pj_size_t d = (pj_size_t)ht->heap[i];\n\
         \x20           pj_size_t e = d + sizeof(pj_timer_entry_dup) - 1;\n\
         \x20           if (e < a || d >= b)\n\
         \x20               continue;\n\
         \x20           first = d < a ? 0 : (d - a) / (pj_size_t)page;\n\
         \x20           last = e >= b ? n - 1 : (e - a) / (pj_size_t)page;\n\
         \x20           for (; first <= last; ++first)\n\
         \x20               used[first] = 1;\n\
         \x20       }\n\
         \x20       for (i = 0; i < n; i = run) {\n\
         \x20           for (run = i; run < n && used[run] == used[i]; ++run)\n\
         \x20               ;\n\
         \x20           if (used[i])\n\
         \x20               kept += (unsigned)(run - i);\n\
         \x20           else\n\
         \x20               madvise((void *)(a + i * (pj_size_t)page), (run - i) * (pj_size_t)page,\n\
         \x20                       MADV_DONTNEED);\n\
         \x20       }\n\
         \x20       free(used);\n\
         \x20   }\n\
         #endif\n\
         \x20   unlock_timer_heap(ht);\n\
         \x20   return kept;\n\
         }\n\
         \n\
         static pj_status_t insert_node(pj_timer_heap_t *ht,\n",
        "idle timer copies' pages given back",
    ),
];

const TLS_TRANSPORT: &str = "pjsip/src/pjsip/sip_transport_tls.c";

const PJSUA_CALL: &str = "pjsip/src/pjsua-lib/pjsua_call.c";
const PJSUA_CORE: &str = "pjsip/src/pjsua-lib/pjsua_core.c";
const DTLS: &str = "pjmedia/src/pjmedia/transport_srtp_dtls.c";
const SRTP: &str = "pjmedia/src/pjmedia/transport_srtp.c";
const IOQUEUE: &str = "pjlib/src/pj/ioqueue_epoll.c";
const TIMER: &str = "pjlib/src/pj/timer.c";
const PJSUA_MEDIA: &str = "pjsip/src/pjsua-lib/pjsua_media.c";
const AUTH_CLIENT: &str = "pjsip/src/pjsip/sip_auth_client.c";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=config_site.h");
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=lazy.rs");
    println!("cargo:rerun-if-env-changed=PJPROJECT_DIR");
    println!("cargo:rerun-if-env-changed=PJPROJECT_CACHE");

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let src = find_source(&manifest);
    let config_site = fs::read_to_string(manifest.join("config_site.h"))
        .unwrap_or_else(|e| fail(&format!("cannot read pjsip-sys/config_site.h: {e}")));
    let toolchain = Toolchain::detect();
    let cflags = toolchain.cflags.as_str();

    let build = out.join("pjproject");
    let install = out.join("install");
    let stamp = out.join("pjproject.stamp");
    let mut h = DefaultHasher::new();
    (
        src.display().to_string(),
        &config_site,
        CONFIGURE_ARGS,
        FIXES,
        &toolchain.cc,
        cflags,
    )
        .hash(&mut h);
    let key = format!("{:016x}\n", h.finish());
    let pc = install.join("lib/pkgconfig/libpjproject.pc");
    if fs::read_to_string(&stamp).ok().as_deref() != Some(key.as_str()) || !pc.exists() {
        build_pjproject(&src, &build, &install, &config_site, &toolchain);
        fs::write(&stamp, &key)
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", stamp.display())));
    }

    let pkg = read_pc(&pc);
    link(&pkg, &install, &toolchain.cc, &out);
    bindings(&manifest, &install, &pkg, &out);
    println!("cargo:include={}", install.join("include").display());
    println!("cargo:root={}", install.display());
}

fn fail(msg: &str) -> ! {
    eprintln!("\npjsip-sys: {msg}\n");
    panic!("pjsip-sys: {msg}");
}

/// The version in `<dir>/version.mak`, as "MAJOR.MINOR".
fn version_of(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join("version.mak")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}")))
            .and_then(|rest| rest.split(":=").nth(1))
            .map(|v| v.trim().to_string())
    };
    let rev = field("PJ_VERSION_REV").unwrap_or_default();
    let suffix = field("PJ_VERSION_SUFFIX").unwrap_or_default();
    let mut v = format!(
        "{}.{}",
        field("PJ_VERSION_MAJOR")?,
        field("PJ_VERSION_MINOR")?
    );
    if !rev.is_empty() {
        v = format!("{v}.{rev}");
    }
    Some(v + &suffix)
}

fn find_source(manifest: &Path) -> PathBuf {
    let root = manifest.parent().expect("pjsip-sys sits in the workspace");
    let cache = env::var_os("PJPROJECT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/pjproject-src"))
        .join("current");
    let candidates: Vec<(String, PathBuf)> = match env::var_os("PJPROJECT_DIR") {
        Some(d) => vec![("PJPROJECT_DIR".into(), PathBuf::from(d))],
        None => vec![
            ("the pjproject submodule".into(), root.join("pjproject")),
            ("the fetch cache".into(), cache),
        ],
    };
    for (what, dir) in &candidates {
        match version_of(dir) {
            Some(v) if v == PIN => {
                println!(
                    "pjsip-sys: using pjproject {v} from {what} ({})",
                    dir.display()
                );
                return dir.clone();
            }
            Some(v) => fail(&format!(
                "{what} at {} holds pjproject {v}, but microsip is pinned to {PIN}",
                dir.display()
            )),
            None => continue,
        }
    }
    fail(&format!(
        "no pjproject {PIN} source found (looked at {}). Run `scripts/fetch-pjproject.sh` \
         (or `git submodule update --init`), or set PJPROJECT_DIR to a pjproject {PIN} tree.",
        candidates
            .iter()
            .map(|(w, d)| format!("{w}: {}", d.display()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Runs one build step, naming it and showing the tail of its output when it fails.
fn run(cmd: &mut Command, what: &str, log: &Path) {
    let line = format!("{cmd:?}");
    println!("pjsip-sys: {what}: {line}");
    let file = fs::File::create(log)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", log.display())));
    let status = cmd
        .stdout(file.try_clone().expect("dup log file"))
        .stderr(file)
        .status()
        .unwrap_or_else(|e| fail(&format!("{what}: cannot start {line}: {e}")));
    if !status.success() {
        let text = fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        fail(&format!(
            "{what} failed ({status}).\ncommand: {line}\nlog: {}\n--- last lines ---\n{}",
            log.display(),
            tail.join("\n")
        ));
    }
}

/// The C compiler and flags for pjproject, as the `cc` crate finds them: it honours Cargo's
/// target, `CC`/`CFLAGS` (and their per-target forms) and the profile's optimisation level.
struct Toolchain {
    cc: String,
    cflags: String,
}

impl Toolchain {
    fn detect() -> Toolchain {
        let release = env::var("PROFILE").map(|p| p == "release").unwrap_or(false);
        let mut build = cc::Build::new();
        build
            .pic(true)
            .debug(true)
            .cargo_metadata(false)
            .warnings(false);
        if release {
            build.opt_level(2).define("NDEBUG", None);
        } else {
            // Debug builds keep pj_assert live: it catches calls from unregistered threads.
            build.opt_level(1);
        }
        let compiler = build.get_compiler();
        let cflags = compiler
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        Toolchain {
            cc: compiler.path().display().to_string(),
            cflags,
        }
    }
}

fn build_pjproject(src: &Path, build: &Path, install: &Path, config_site: &str, tc: &Toolchain) {
    let cflags = tc.cflags.as_str();
    let logs = build.with_extension("logs");
    let _ = fs::remove_dir_all(build);
    let _ = fs::remove_dir_all(install);
    fs::create_dir_all(&logs)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", logs.display())));
    run(
        Command::new("cp").arg("-a").arg(src).arg(build),
        "copy the source into OUT_DIR",
        &logs.join("copy.log"),
    );
    fs::write(build.join("pjlib/include/pj/config_site.h"), config_site)
        .unwrap_or_else(|e| fail(&format!("cannot write config_site.h: {e}")));

    for (file, text, replacement, why) in FIXES {
        let path = build.join(file);
        let code = fs::read_to_string(&path)
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())));
        if code.matches(text).count() != 1 {
            fail(&format!(
                "{file} no longer holds the text our fix replaces once ({why}); \
                 check whether this pjproject still needs it"
            ));
        }
        fs::write(&path, code.replacen(text, replacement, 1))
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
    }

    // Debian's dfsg repack deletes bdimad_dev.c but the Makefile still lists its object.
    if !build
        .join("pjmedia/src/pjmedia-audiodev/bdimad_dev.c")
        .exists()
    {
        let mk = build.join("pjmedia/build/Makefile");
        let text = fs::read_to_string(&mk)
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", mk.display())));
        fs::write(&mk, text.replace(" bdimad_dev.o", ""))
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", mk.display())));
    }

    let jobs = env::var("NUM_JOBS").unwrap_or_else(|_| "2".into());
    let mut configure = Command::new("./aconfigure");
    configure
        .current_dir(build)
        .arg(format!("--prefix={}", install.display()))
        .args(CONFIGURE_ARGS)
        .env("CC", &tc.cc)
        .env("CFLAGS", cflags)
        .env("CXXFLAGS", cflags);
    run(
        &mut configure,
        "configure pjproject",
        &logs.join("configure.log"),
    );
    run(
        Command::new("make").current_dir(build).arg("dep"),
        "make dep",
        &logs.join("dep.log"),
    );
    run(
        Command::new("make")
            .current_dir(build)
            .arg(format!("-j{jobs}"))
            .arg("lib"),
        "make lib",
        &logs.join("make.log"),
    );
    run(
        Command::new("make").current_dir(build).arg("install"),
        "make install",
        &logs.join("install.log"),
    );
}

struct PkgConfig {
    libs: Vec<String>,
    cflags: Vec<String>,
}

/// Reads the pkg-config file pjproject's `make install` wrote (variables expanded by hand:
/// the file only uses ${prefix}, ${exec_prefix}, ${libdir} and ${includedir}).
fn read_pc(pc: &Path) -> PkgConfig {
    let text = fs::read_to_string(pc)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", pc.display())));
    let mut vars: Vec<(String, String)> = Vec::new();
    let expand = |s: &str, vars: &[(String, String)]| {
        let mut s = s.to_string();
        for (k, v) in vars {
            s = s.replace(&format!("${{{k}}}"), v);
        }
        s
    };
    let (mut libs, mut cflags) = (Vec::new(), Vec::new());
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            if !k.contains(':') && !k.contains(' ') {
                let v = expand(v.trim(), &vars);
                vars.push((k.trim().to_string(), v));
                continue;
            }
        }
        if let Some((k, v)) = line.split_once(':') {
            let v = expand(v.trim(), &vars);
            let words = v.split_whitespace().map(str::to_string);
            match k.trim() {
                "Libs" | "Libs.private" => libs.extend(words),
                "Cflags" => cflags.extend(words),
                _ => {}
            }
        }
    }
    PkgConfig { libs, cflags }
}

fn link(pkg: &PkgConfig, install: &Path, cc: &str, out: &Path) {
    let libdir = install.join("lib");
    let mut seen = Vec::new();
    let lazy = lazy_libs(pkg, &libdir, cc, out);
    for w in &pkg.libs {
        if let Some(dir) = w.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = w.strip_prefix("-l") {
            if seen.contains(&lib) {
                continue;
            }
            seen.push(lib);
            if lazy.iter().any(|l| l == lib) {
                continue;
            }
            // pjproject's own archives are linked statically; system libraries as usual.
            let kind = if libdir.join(format!("lib{lib}.a")).exists() {
                "static"
            } else {
                "dylib"
            };
            println!("cargo:rustc-link-lib={kind}={lib}");
        }
    }
}

/// Builds the stand-ins for the libraries loaded on first use (see lazy.rs) and says to link
/// them; returns the `-l` names they replace.
fn lazy_libs(pkg: &PkgConfig, libdir: &Path, cc: &str, out: &Path) -> Vec<String> {
    if !lazy::supported() {
        return Vec::new();
    }
    let archives: Vec<PathBuf> = pkg
        .libs
        .iter()
        .filter_map(|w| w.strip_prefix("-l"))
        .map(|l| libdir.join(format!("lib{l}.a")))
        .filter(|a| a.exists())
        .collect();
    let wanted = lazy::undefined_in(&archives);
    let linked: Vec<&str> = pkg
        .libs
        .iter()
        .filter_map(|w| w.strip_prefix("-l"))
        .collect();
    let plans: Vec<lazy::Lazy> = lazy::LIBS
        .iter()
        .filter(|(l, _)| linked.contains(l))
        .filter_map(|&l| lazy::plan(l, Some(&wanted), cc))
        .chain(lazy::OTHERS.iter().filter_map(|&l| lazy::plan(l, None, cc)))
        .collect();
    if plans.is_empty() {
        return Vec::new();
    }
    println!(
        "cargo:rustc-link-search=native={}",
        out.join("lazy").display()
    );
    // Whole: the other crates' stand-ins are what their calls resolve to, wherever the
    // linker meets this archive.
    println!(
        "cargo:rustc-link-lib=static:+whole-archive={}",
        lazy::build(&plans, out)
    );
    println!("cargo:rustc-link-lib=dylib=dl");
    plans.into_iter().map(|p| p.lib).collect()
}

fn bindings(manifest: &Path, install: &Path, pkg: &PkgConfig, out: &Path) {
    let mut b = bindgen::Builder::default()
        .header(manifest.join("wrapper.h").display().to_string())
        .clang_arg(format!("-I{}", install.join("include").display()))
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false);
    for f in pkg
        .cflags
        .iter()
        .filter(|f| f.starts_with("-D") || f.starts_with("-I"))
    {
        b = b.clang_arg(f);
    }
    for f in [
        "pjsua_.*",
        "pjsip_.*",
        "pjmedia_port.*",
        "pjmedia_frame.*",
        "pjmedia_master_port.*",
        "pjmedia_null_port.*",
        "pjmedia_sdp_neg_set_prefer_remote_codec_order",
        "pjmedia_tonegen_.*",
        "pjmedia_mem_player_.*",
        "pjmedia_mem_capture_.*",
        "pjmedia_echo_.*",
        "pjmedia_codec_opus_.*",
        "pjmedia_clock.*",
        "pj_pool_.*",
        "pj_caching_pool.*",
        "pj_thread_.*",
        "pj_str.*",
        "pj_get_version",
        "pj_log_.*",
        "pj_sockaddr.*",
        "pj_gettimeofday",
        "pj_time_val_normalize",
        "pj_list_insert_before",
        "pj_grp_lock_add_handler",
        "pj_timer_heap_microsip_release_idle",
        "pj_ssl_cert_get_verify_status_strings",
    ] {
        b = b.allowlist_function(f);
    }
    for t in [
        "pjsua_.*",
        "pjsip_.*",
        "pjmedia_.*",
        "pj_constants_",
        "pj_log_decoration",
        "pj_str_t",
        "pj_thread_desc",
        "pj_status_t",
        "pj_pool_t",
    ] {
        b = b.allowlist_type(t);
    }
    for v in [
        "PJ_SUCCESS",
        "PJ_TRUE",
        "PJ_FALSE",
        "PJSUA_.*",
        "PJSIP_.*",
        "PJMEDIA_.*",
        "PJ_ERR_.*",
        "PJ_ENOTFOUND",
        "pjsip_sip_cfg_var",
    ] {
        b = b.allowlist_var(v);
    }
    let generated = b
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen failed on wrapper.h: {e}")));
    generated
        .write_to_file(out.join("bindings.rs"))
        .unwrap_or_else(|e| fail(&format!("cannot write bindings.rs: {e}")));
}
