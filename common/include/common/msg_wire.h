/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loom service messages: the wire, in one self-contained header.
 *
 * Everything a peer needs to speak the protocol is here or in
 * docs/protocol.md: message and segment type numbers, every field of every
 * segment with its map key and range, which segments each message carries,
 * and the error codes an error message carries. Numbers are explicit and are
 * never reused: a retired number stays in the list as reserved.
 *
 * Encoding (msgpack; see docs/protocol.md for the byte-level walk-through):
 *
 *   message  = array(3) [ version:uint, type:uint, segments:array(n) ]
 *   segment  = array(3) [ type:uint, flags:uint, body ]
 *   flags    = bit 0 Required; every other bit must be zero
 *   body     = map { key:uint => value }  for every segment type below;
 *              any msgpack value for a segment type the receiver does not
 *              know (it is skipped whole, or refused if Required).
 *
 * Keys are the small integers listed per segment. An encoder writes the keys
 * in ascending order, integers in their shortest msgpack form, and omits
 * absent optional fields, so the encoding of a message is unique (fixtures in
 * tests/fixtures/msg pin it). A decoder accepts any msgpack integer width and
 * any key order, skips keys it does not know, and refuses a duplicate key.
 * A field added in a later revision of a segment is always optional.
 *
 * Value kinds used below:
 *   uint      msgpack non-negative integer, range given per field
 *   bool      msgpack true/false (not 0/1)
 *   addr      bin, exactly 16 bytes: IPv6, or IPv4-mapped ::ffff:a.b.c.d
 *   mask      bin, exactly 16 bytes, same layout as addr
 *   port      uint 0..65535 in host order on the wire (struct flow_key keeps
 *             network order; the codec converts)
 *   bytes     bin, length range given per field
 *   text      str, well-formed UTF-8 (shortest form, no surrogates, at most
 *             U+10FFFF) without control bytes (0x00-0x1f, 0x7f); length
 *             range given per field in bytes
 */
#ifndef LOOM_COMMON_MSG_WIRE_H
#define LOOM_COMMON_MSG_WIRE_H

/* ---- Versions and caps ------------------------------------------------- */

#define MSG_VERSION       1u /* the version this codebase encodes */
#define MSG_VERSION_MIN   1u /* lowest version it decodes */
#define MSG_VERSION_MAX   1u /* highest version it decodes */

#define MSG_MAX_SIZE      70000u /* whole encoded message, bytes */
#define MSG_MAX_SEGS      32u    /* segments in one message, known or not */
#define MSG_MAX_INTEREST  256u   /* manager/agent interest data, bytes */
#define MSG_MAX_HOSTNAME  255u   /* identity host name, bytes */
#define MSG_MAX_PACKET    65535u /* IP packet segment, bytes */
#define MSG_MAX_ACTIONS   32u    /* entries in an action list */
#define MSG_MAX_TEXT      127u   /* error text, bytes */
#define MSG_MAX_NAME      63u    /* a definitions name (prov-trial), bytes */
#define MSG_MAX_TTL       86400u /* affinity time to live, seconds */
#define MSG_HMAC_LEN      32u    /* hmac-sha256 authenticator, bytes */
#define MSG_MAX_REPL_KEY   64u    /* replicated entry key, bytes */
#define MSG_MAX_REPL_VALUE 1024u  /* replicated entry value, bytes */
#define MSG_MAX_REPL_TXNS  65535u /* a batch's encoded transaction list, bytes */
#define MSG_MAX_PROV_DOC   (16u << 20) /* a provisioning document (its own frame), bytes */
#define MSG_PROV_DIGEST_LEN 32u  /* SHA-256 of a provisioning document */

/* ---- Message types ----------------------------------------------------- */
/*
 * X(name, number, printable name). Numbers 1..255; 0 is never valid.
 * Reserved, not implemented yet (a decoder refuses them as unknown):
 *   10       activity report (agent -> manager: per-affinity counters)
 *   35..47   replication (manager <-> standby, agent <-> peer agent)
 *   51..63   provisioning (provisioner -> pkt-engine, svc-mgr)
 */
#define MSG_TYPE_LIST(X)                                                   \
	X(MSG_T_UPDATE_WILDCARD, 1, "affinity-update-wildcard")            \
	X(MSG_T_UPDATE_FIXED,    2, "affinity-update-fixed")               \
	X(MSG_T_UPDATE_DENY,     3, "affinity-update-deny")                \
	X(MSG_T_MATCH_WILDCARD,  4, "interest-match-wildcard")             \
	X(MSG_T_MATCH_FIXED,     5, "interest-match-fixed")                \
	X(MSG_T_IP_PACKET,       6, "ip-packet-only")                      \
	X(MSG_T_HELLO,           7, "hello")                               \
	X(MSG_T_HEARTBEAT,       8, "heartbeat")                           \
	X(MSG_T_ERROR,           9, "error")                               \
	X(MSG_T_REPL_HELLO,     32, "repl-hello")                          \
	X(MSG_T_REPL_BATCH,     33, "repl-batch")                          \
	X(MSG_T_REPL_ACK,       34, "repl-ack")                            \
	X(MSG_T_PROV_PUSH,      48, "prov-push")                           \
	X(MSG_T_PROV_ACK,       49, "prov-ack")                            \
	X(MSG_T_PROV_QUERY,     50, "prov-query")                          \
	X(MSG_T_PROV_TRIAL,     51, "prov-trial")                          \
	X(MSG_T_PROV_RESULT,    52, "prov-trial-result")

#define MSG_T_RESERVED_ACTIVITY 10u
#define MSG_T_RESERVED_REPL_FIRST 32u
#define MSG_T_RESERVED_REPL_LAST  47u
#define MSG_T_RESERVED_PROV_FIRST 48u
#define MSG_T_RESERVED_PROV_LAST  63u

/* ---- Segment types ----------------------------------------------------- */
/*
 * X(name, number, printable name).
 * Numbers 1..255 on the wire; the types this codec knows are all below 64 so
 * a capability set (which segment types a receiver can process) is one
 * uint64_t with bit n standing for type n. Action segments are 16..31.
 */
#define MSG_SEG_LIST(X)                                                    \
	X(MSG_S_SECURITY,       1, "security")                            \
	X(MSG_S_WILDCARD,       2, "wildcard-affinity")                   \
	X(MSG_S_FIXED,          3, "fixed-affinity")                      \
	X(MSG_S_AFFINITY_ID,    4, "affinity-identifier")                 \
	X(MSG_S_SERVICE_PREC,   5, "service-precedence")                  \
	X(MSG_S_BACKUP_PREC,    6, "backup-precedence")                   \
	X(MSG_S_MGR_INTEREST,   7, "manager-interest-data")               \
	X(MSG_S_AGENT_INTEREST, 8, "agent-interest-data")                  \
	X(MSG_S_IDENTITY,       9, "identity")                            \
	X(MSG_S_ACTION_LIST,   10, "action-list")                         \
	X(MSG_S_IP_PACKET,     11, "ip-packet")                           \
	X(MSG_S_ACT_NAT,       16, "action-nat")                          \
	X(MSG_S_ACT_ADVERTISE, 17, "action-advertise")                    \
	X(MSG_S_ACT_SEQ_ADJUST, 18, "action-seq-adjust")                  \
	X(MSG_S_ACT_INTEREST,  19, "action-interest-criteria")            \
	X(MSG_S_HELLO,         32, "hello")                               \
	X(MSG_S_HEARTBEAT,     33, "heartbeat")                           \
	X(MSG_S_ERROR,         34, "error")                               \
	X(MSG_S_REPL_MEMBER,   35, "repl-member")                         \
	X(MSG_S_REPL_BATCH,    36, "repl-batch")                          \
	X(MSG_S_REPL_ACK,      37, "repl-ack")                           \
	X(MSG_S_PROV_DOC,      48, "prov-doc")                           \
	X(MSG_S_PROV_ACK,      49, "prov-ack")                           \
	X(MSG_S_PROV_QUERY,    50, "prov-query")                         \
	X(MSG_S_PROV_TRIAL,    51, "prov-trial")                         \
	X(MSG_S_PROV_RESULT,   52, "prov-trial-result")

#define MSG_S_ACTION_FIRST 16u
#define MSG_S_ACTION_LAST  31u

#define MSG_SEG_F_REQUIRED 0x1u /* segment header flags: the only bit */

/*
 * Segment bodies: key  field            kind   range / notes   (M = mandatory,
 * O = optional). A mandatory field missing is an error; an optional one
 * absent is reported as absent (its presence bit clear), never defaulted.
 *
 * security (1)                       must be segment 0 when present
 *   1  type      uint  M  0 none, 1 hmac-sha256
 *   2  data      bytes M  none: 0 bytes; hmac-sha256: exactly 32 bytes, the
 *                         HMAC-SHA256 of the whole encoded message with these
 *                         32 bytes set to zero (see msg_sign())
 *
 * wildcard-affinity (2)
 *   1  dispatch  bool  M  forward to `forward` without rewriting the
 *                         destination; forward :: means drop after counting
 *   2  info      bool  M  gather statistics for the forward address
 *   3  proto     uint  M  0..255, 0 matches any protocol
 *   4  saddr     addr  M
 *   5  smask     mask  M  bits of saddr that must match
 *   6  daddr     addr  M
 *   7  dmask     mask  M
 *   8  sport     port  M  0 matches any
 *   9  dport     port  M  0 matches any
 *  10  forward   addr  M
 *  11  ttl       uint  M  0..86400 seconds; 0 deletes the affinity
 *
 * fixed-affinity (3)
 *   1  dispatch  bool  M
 *   2  info      bool  M
 *   3  proto     uint  M  0..255
 *   4  saddr     addr  M
 *   6  daddr     addr  M
 *   8  sport     port  M  (ICMP echo: the identifier; dport then 0)
 *   9  dport     port  M
 *  10  forward   addr  M
 *  11  ttl       uint  M  0..86400 seconds; 0 deletes the affinity
 *
 * affinity-identifier (4)            the affinity an interest match is about
 *   1  dispatch  bool  M
 *   2  info      bool  M
 *   3  proto     uint  M  0..255
 *   4  saddr     addr  M
 *   5  smask     mask  O  present when the affinity is a wildcard
 *   6  daddr     addr  M
 *   7  dmask     mask  O  present when the affinity is a wildcard
 *   8  sport     port  M
 *   9  dport     port  M
 *  12  reasons   uint  M  interest bits that caused the match (MSG_INT_*)
 *
 * service-precedence (5)
 *   1  order     uint  M  0 higher value is better, 1 lower value is better
 *   2  value     uint  M  0..2^32-1
 *
 * backup-precedence (6)
 *   1  value     uint  M  0..2^32-1
 *
 * manager-interest-data (7), agent-interest-data (8)
 *   1  data      bytes M  0..256 bytes, opaque, returned as is
 *
 * identity (9)
 *   1  addr      addr  M  the sender's address
 *   2  host      text  M  0..255 bytes, the sender's host name
 *
 * action-list (10)
 *   1  actions   array M  0..32 entries, each array(2) [seg type:uint
 *                         1..255, flags:uint bit 0 Required]
 *
 * ip-packet (11)
 *   1  packet    bytes M  1..65535 bytes, the IP packet from its IP header on
 *
 * action-nat (16)                    any subset; at least one field
 *   1  saddr     addr  O  new source address
 *   2  sport     port  O  new source port
 *   3  daddr     addr  O  new destination address
 *   4  dport     port  O  new destination port
 *
 * action-advertise (17)
 *   1  addr      addr  M
 *   2  mask      mask  O  advertise the subnet addr/mask instead of a host
 *
 * action-seq-adjust (18)             deltas are added modulo 2^32
 *   1  seq_delta uint  M  0..2^32-1
 *   2  seq_init  uint  M  0..2^32-1, lowest sequence number adjusted
 *   3  ack_delta uint  M  0..2^32-1
 *   4  ack_init  uint  M  0..2^32-1, lowest ack number adjusted
 *
 * action-interest-criteria (19)      four 16-bit vectors, MSG_INT_* bits only
 *   1  addr      addr  M  where interest matches are sent
 *   2  port      port  M
 *   3  mask      uint  M  which packets cause an interest match
 *   4  data      uint  M  which matches carry a copy of the packet
 *   5  copy      uint  M  which packets are copied to the server
 *   6  hold      uint  M  which packets the agent holds for the manager
 *   7  bytes     uint  O  1..2^32-1: one interest match (reason BYTES, no
 *                         packet) once the affinity's packets carried this
 *                         many bytes; a fixed affinity only
 *
 * hello (32)
 *   1  role      uint  M  MSG_ROLE_*: 1..5
 *   2  caps      uint  M  0..2^64-1, bit n = segment type n can be processed
 *   3  instance  uint  M  0..2^64-1, the sender's configured instance id
 *   4  generation uint M  0..2^64-1, bumped on every start of the instance
 *   5  vmin      uint  M  1..255, lowest protocol version spoken
 *   6  vmax      uint  M  vmin..255, highest protocol version spoken
 *
 * heartbeat (33)
 *   1  seq       uint  M  0..2^64-1, increases by one per heartbeat
 *   2  mono_ms   uint  M  0..2^64-1, sender's CLOCK_MONOTONIC in ms
 *
 * error (34)
 *   1  code      uint  M  MSG_E_* below, 1..65535
 *   2  msg_type  uint  M  0..255, type of the refused message, 0 unknown
 *   3  seg_index uint  O  0..31, index of the segment that failed
 *   4  seg_type  uint  O  0..255, type of the segment that failed
 *   5  field     uint  O  0..255, key of the field that failed
 *   6  text      text  O  0..127 bytes
 *
 * repl-member (35)                   who a replication member is, in its hello
 *   1  group     uint  M  0..2^32-1, replication group: members of different
 *                         groups refuse each other
 *   2  mode      uint  M  MSG_REPL_MODE_*: 1..3, must equal the receiver's
 *   3  role      uint  M  MSG_REPL_ROLE_*: 1..3 (peer only in peer mode)
 *   4  ready     bool  M  the sender holds a complete table
 *   5  next      uint  O  in the answer to a hello only: the next batch
 *                         sequence number the answering member expects from
 *                         the hello's sender; 0 = it holds nothing of the
 *                         sender's generation and wants a dump
 *
 * repl-batch (36)                    one batch of transactions, in sequence
 *   1  seq       uint  M  1..2^64-1, +1 per batch on one sender->receiver
 *                         stream (per sender generation)
 *   2  kind      uint  M  MSG_REPL_KIND_*: 0 live, 1 dump begins, 2 dump
 *                         chunk, 3 dump ends
 *   3  txns      bytes M  1..65535 bytes: a msgpack array of 0..65535
 *                         transaction maps, each keyed like a segment body:
 *        1  op         uint  M  MSG_REPL_OP_*: 1..6
 *        2  owner      uint  M  instance that created the entry; 0 (every
 *                               entry) only with delete-all-of-owner
 *        3  key        bin   O  0..64 bytes: M for add, update, delete,
 *                               error; absent otherwise
 *        4  value      bin   O  0..1024 bytes: M for add and update,
 *                               optional for error (detail), absent otherwise
 *        5  generation uint  O  M for authenticate (owner = the sender's
 *                               instance), absent otherwise
 *      The list is held to the encoder's rules too (keys ascending, shortest
 *      forms), so a batch has one encoding; anything else is MSG_E_INVALID
 *      on field 3.
 *
 * repl-ack (37)                      receiver -> sender
 *   1  next      uint  M  0..2^64-1: every batch below next was applied
 *   2  resend    bool  M  a gap was seen: resend every batch from next
 *   3  dump      bool  M  the receiver wants a fresh dump (it drops batches
 *                         until that dump begins)
 *
 * prov-doc (48)                      provisioner -> daemon: a versioned document
 *   1  version   uint  M  1..2^63-1, the provisioner's definitions version
 *   2  target    uint  M  MSG_PROV_TARGET_*: 1..2, the kind of daemon it is for
 *                         (a daemon refuses a document for another kind)
 *   3  size      uint  M  0..MSG_MAX_PROV_DOC: bytes of the document, which
 *                         travels as the next ZeroMQ frame of the same
 *                         multipart message (it is larger than MSG_MAX_SIZE)
 *   4  digest    bytes M  exactly 32 bytes: SHA-256 of the document, so the
 *                         security segment's authenticator covers it too
 *
 * prov-ack (49)                      daemon -> provisioner
 *   1  version   uint  M  0..2^63-1, the pushed version this answers; 0
 *                         answers a prov-query
 *   2  ok        bool  M  the pushed version is applied (true for a query)
 *   3  applied   uint  M  0..2^63-1, the version the daemon runs now (0: none
 *                         pushed since it started)
 *   4  text      text  O  0..127 bytes: why a version was refused
 *
 * prov-query (50)                    provisioner -> daemon: which version runs?
 *   1  target    uint  M  MSG_PROV_TARGET_*: 1..2
 *   2  latest    uint  M  0..2^63-1, the provisioner's newest version
 *
 * prov-trial (51)                    provisioner -> engine: validate a service
 *      by a handshake through every device of its chain (docs/pkt-engine.md,
 *      "Trials")
 *   1  id        uint  M  1..2^63-1, the provisioner's number for the trial
 *   2  service   text  M  1..63 bytes: the service's name in the definitions
 *   3  port      uint  M  0..65535: the service port to try (0: its first)
 *
 * prov-trial-result (52)             engine -> provisioner
 *   1  id        uint  M  1..2^63-1, the trial this answers
 *   2  ok        bool  M  the handshake came back through every device
 *   3  size      uint  M  0..MSG_MAX_PROV_DOC: bytes of the report (JSON),
 *                         the next ZeroMQ frame of the same message
 *   4  digest    bytes M  exactly 32 bytes: SHA-256 of the report
 */

/* Interest criteria bits (seed 001, figure 10I), shared by all four vectors
 * of action-interest-criteria and by affinity-identifier reasons. */
#define MSG_INT_FIN        (1u << 0)
#define MSG_INT_SYN        (1u << 1)
#define MSG_INT_RST        (1u << 2)
#define MSG_INT_PSH        (1u << 3)
#define MSG_INT_ACK        (1u << 4)
#define MSG_INT_URG        (1u << 5)
#define MSG_INT_DATA       (1u << 6)  /* data present */
#define MSG_INT_FIRST_DATA (1u << 7)  /* first data present */
#define MSG_INT_FRAGMENT   (1u << 8)  /* fragment, addresses match */
#define MSG_INT_BYTES      (1u << 9)  /* reasons only: the byte threshold was reached */
#define MSG_INT_ALL        (1u << 15) /* all packets */
#define MSG_INT_VALID      0x83ffu

/* service-precedence order */
#define MSG_ORDER_HIGHER_BETTER 0u
#define MSG_ORDER_LOWER_BETTER  1u

/* security type */
#define MSG_SEC_NONE        0u
#define MSG_SEC_HMAC_SHA256 1u

/* replication: repl-member mode and role, repl-batch kind, transaction op */
#define MSG_REPL_MODE_PRIMARY_BACKUP 1u
#define MSG_REPL_MODE_ACTIVE_STANDBY 2u
#define MSG_REPL_MODE_PEER           3u
#define MSG_REPL_ROLE_ACTIVE  1u /* primary or active: writes every entry */
#define MSG_REPL_ROLE_STANDBY 2u /* backup or standby: holds copies */
#define MSG_REPL_ROLE_PEER    3u /* writes the entries it owns */
#define MSG_REPL_KIND_LIVE       0u
#define MSG_REPL_KIND_DUMP_BEGIN 1u
#define MSG_REPL_KIND_DUMP       2u
#define MSG_REPL_KIND_DUMP_END   3u
#define MSG_REPL_OP_ADD          1u
#define MSG_REPL_OP_UPDATE       2u
#define MSG_REPL_OP_DELETE       3u
#define MSG_REPL_OP_DELETE_OWNER 4u /* delete every entry of owner */
#define MSG_REPL_OP_ERROR        5u /* the owner reports a failed entry */
#define MSG_REPL_OP_AUTH         6u /* names the batch's sender */

/* provisioning targets: the kind of daemon a document is for */
#define MSG_PROV_TARGET_SVC_MGR    1u
#define MSG_PROV_TARGET_PKT_ENGINE 2u

/* hello role */
#define MSG_ROLE_FWD_AGENT   1u
#define MSG_ROLE_SVC_MGR     2u
#define MSG_ROLE_PKT_ENGINE  3u
#define MSG_ROLE_PROVISIONER 4u
#define MSG_ROLE_TOOL        5u /* loomctl and tests */

/*
 * Which segments each message type carries. M mandatory (exactly once),
 * O optional (at most once), - not allowed. Every segment type appears at
 * most once per message; security, when present, is segment 0.
 *
 *                     upd-wc upd-fx upd-deny match-wc match-fx ip hello hb err
 *   security            O      O      O        O        O      O   O    O  O
 *   wildcard-affinity   M      -      O        -        -      -   -    -  -
 *   fixed-affinity      -      M      O        -        -      -   -    -  -
 *   affinity-identifier -      -      -        M        M      -   -    -  -
 *   service-precedence  O      O      -        -        -      -   -    -  -
 *   backup-precedence   O      O      -        -        -      -   -    -  -
 *   mgr-interest-data   O      O      O        O        O      -   -    -  -
 *   agent-interest-data -      O      O        O        O      -   -    -  -
 *   identity            O      O      O        O        O      -   M    O  O
 *   action-list         O      O      M        -        -      -   -    -  -
 *   ip-packet           -      O      -        O        O      M   -    -  -
 *   action-nat          O      O      -        -        -      -   -    -  -
 *   action-advertise    O      -      -        -        -      -   -    -  -
 *   action-seq-adjust   O      O      -        -        -      -   -    -  -
 *   action-interest     O      O      -        -        -      -   -    -  -
 *   hello               -      -      -        -        -      -   M    -  -
 *   heartbeat           -      -      -        -        -      -   -    M  -
 *   error               -      -      -        -        -      -   -    -  M
 *
 * Replication messages (heartbeats between members are plain heartbeat
 * messages, type 8):
 *
 *                     repl-hello repl-batch repl-ack
 *   security              O          O         O
 *   identity              O          -         -
 *   hello                 M          -         -
 *   repl-member           M          -         -
 *   repl-batch            -          M         -
 *   repl-ack              -          -         M
 *
 * Provisioning messages (a prov-push is a two-frame ZeroMQ message: the
 * encoded message, then the document's bytes):
 *
 *                     prov-push prov-ack prov-query
 *   security              O         O        O
 *   identity              O         O        O
 *   prov-doc              M         -        -
 *   prov-ack              -         M        -
 *   prov-query            -         -        M
 *
 * A known segment in a message that does not allow it is treated like an
 * unknown one: refused if Required, otherwise skipped.
 */

/* ---- Error codes ------------------------------------------------------- */
/*
 * X(name, number, text). Returned negated by the codec and carried as is in
 * an error message's code field, so the numbers are wire values too.
 */
#define MSG_ERR_LIST(X)                                                    \
	X(MSG_E_NONE,        0, "no error")                                \
	X(MSG_E_TRUNCATED,   1, "message truncated")                       \
	X(MSG_E_TOO_BIG,     2, "message too big")                         \
	X(MSG_E_SYNTAX,      3, "malformed msgpack")                       \
	X(MSG_E_TYPE,        4, "wrong msgpack type")                      \
	X(MSG_E_RANGE,       5, "value out of range")                      \
	X(MSG_E_LENGTH,      6, "wrong length")                            \
	X(MSG_E_VERSION,     7, "unsupported protocol version")            \
	X(MSG_E_MSG_TYPE,    8, "unknown message type")                    \
	X(MSG_E_SEG_UNKNOWN, 9, "required segment not understood")         \
	X(MSG_E_SEG_COUNT,  10, "too many segments")                       \
	X(MSG_E_SEG_MISSING, 11, "mandatory segment missing")              \
	X(MSG_E_SEG_DUP,    12, "segment repeated")                        \
	X(MSG_E_SEC_PLACE,  13, "security segment not first")              \
	X(MSG_E_FIELD_MISSING, 14, "mandatory field missing")              \
	X(MSG_E_DUP_KEY,    15, "field repeated")                          \
	X(MSG_E_TRAILING,   16, "bytes after the message")                 \
	X(MSG_E_INVALID,    17, "inconsistent fields")                     \
	X(MSG_E_NOSPACE,    18, "buffer too small")                        \
	X(MSG_E_AUTH,       19, "authentication failed")                   \
	X(MSG_E_NOAUTH,     20, "authentication missing")                  \
	X(MSG_E_UNSUPPORTED, 21, "required action not supported")

#endif
