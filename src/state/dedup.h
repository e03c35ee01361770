/* dedup.h -- duplicate filter and feed sequence tracking, on the state file.
 *
 * Private to the state module (src/state/): the window lives with the state
 * that stores it.  Internal interface between state.c (which owns the mapping, the undo record
 * and the seqlocks) and dedup.c (which owns the rules).  Nothing here locks,
 * logs or allocates; every function is bounded.
 *
 * Dedup table: s->dedup[dedup_cap] (dedup_cap a power of two), keyed by
 * (instrument, feed), open addressing with linear probing.  Entries are
 * never deleted, so a probe stops at the first empty slot; it also stops after
 * STATE_DEDUP_PROBES slots, so a lookup costs at most that many cache
 * lines however full the table is.  When no slot is free within the bound the
 * table counts as full for that key: the caller counts dedup_overflow on the
 * feed and accepts the trade without deduplication.  That is deterministic
 * (insertion order is the journal order), so a replay overflows the same keys.
 *
 * Window rules for one entry, hwm = highest trade id marked:
 *   id == 0                     never a duplicate (the feed gave no id)
 *   id >  hwm                   new
 *   hwm - WINDOW < id <= hwm    duplicate iff bit (id % WINDOW) is set
 *   id <= hwm - WINDOW          duplicate: too old to track, and exchanges
 *                               re-send old trades after reconnects
 *   id >  hwm + JUMP_MAX        outlier (hwm != 0): never a duplicate, but
 *                               it does not move hwm and sets no bit; the
 *                               caller counts it (ext id_jumps).  One garbage
 *                               id (2^64-1, a flipped high bit) would else
 *                               make every later real id a duplicate.  An
 *                               outlier is accepted undeduplicated: its own
 *                               re-send is accepted again.
 *
 * Only the writer process may call these: the table is not seqlocked, a
 * reader in another process could see an entry mid-update.
 */
#ifndef TRADES_STATE_DEDUP_H
#define TRADES_STATE_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

#include "trades/state.h"

#define STATE_DEDUP_PROBES 64u        /* slots a lookup/insert visits, at most */
#define STATE_DEDUP_NONE   UINT32_MAX /* "no slot": absent or table full */
/* Largest step above hwm an id may move the window by: 2^32.  Real ids (an
 * exchange's trade counter, an ITCH day's match numbers) step by far less
 * between two trades of one instrument; a flipped bit 32..63 or a garbage id
 * steps by more. */
#define STATE_DEDUP_JUMP_MAX (1ull << 32)
_Static_assert(STATE_DEDUP_JUMP_MAX > STATE_DEDUP_WINDOW, "a jump bound wider than the window");

/* Slot holding (inst, feed), or STATE_DEDUP_NONE if there is none. */
uint32_t state_dedup_find(const struct state *s, uint32_t inst, uint16_t feed);

/* Slot holding (inst, feed), claiming an empty one (hwm 0, no bits) if the
 * key is new; STATE_DEDUP_NONE if no slot is free within the probe
 * bound.  A claimed empty entry means the same as no entry, so a crash right
 * after the claim needs no undo. */
uint32_t state_dedup_insert(struct state *s, uint32_t inst, uint16_t feed);

/* true if trade_id was marked before on this entry, or is older than the
 * window (see the rules above).  trade_id 0 is never seen. */
bool state_dedup_seen(const struct state_dedup *d, uint64_t trade_id);

/* true if trade_id is an outlier on d: above hwm + STATE_DEDUP_JUMP_MAX
 * while hwm != 0 (the first id of an entry is never one). */
bool state_dedup_outlier(const struct state_dedup *d, uint64_t trade_id);

/* Records trade_id on an occupied entry.  Returns true if it was an outlier
 * (state_dedup_outlier) and so left the entry unchanged, else false.
 * Above hwm it moves the window,
 * clearing the bits of the ids it skipped (all of them if it jumped by WINDOW
 * or more; at most WINDOW bit operations).  Marking an id already seen
 * changes nothing: the journal is input from disk, and a duplicate in it must
 * not stop a restart.  trade_id 0 is ignored. */
bool state_dedup_mark(struct state_dedup *d, uint64_t trade_id);

/* A feed sequence number seen on f (TRADE_F_HAS_SEQ): a jump past
 * last_seq + 1 counts one gap and the numbers missing in it (not for the
 * first seq of a feed, last_seq 0); a seq <= last_seq counts out_of_order;
 * last_seq keeps the maximum.  seq 0 is ignored (it means "none"). */
void state_seq_observe(struct state_feed *f, uint64_t seq);

#endif
