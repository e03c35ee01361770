/* privdrop.c -- least privilege after start-up (see privdrop.h).
 *
 * Raw prctl(2)/capset(2), no library: the service keeps at most a handful
 * of capabilities and never execs, so the four calls below are all it
 * needs.  Order matters: the bounding set can only shrink while
 * CAP_SETPCAP is held (before setuid); PR_SET_KEEPCAPS carries the
 * permitted set across setuid for the calling thread only, and capset then
 * trims it; other threads (DPDK's lcores and interrupt thread) lose every
 * capability at setuid, as the kernel does for a thread without keepcaps. */
#include "privdrop.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"
#include "trades/log.h"

#define PRIVDROP_CAPS_MAX 64 /* capability numbers probed (the kernel has ~41) */
#define PRIVDROP_FDS      16 /* directory descriptors nftw keeps open */
#define PRIVDROP_NAME_MAX 64 /* one user name */

static char pd_user[PRIVDROP_NAME_MAX]; /* --user, "" when not given */
static uid_t pd_uid;                    /* the target of the state directory walk */
static gid_t pd_gid;

int privdrop_opt(int c, const char *arg)
{
	if (c != PRIVDROP_OPT_USER)
		return 0;
	snprintf(pd_user, sizeof(pd_user), "%s", arg);
	return 1;
}

/* Capability names for the log line: only those the service may keep. */
static const struct {
	int cap;
	const char *name;
} pd_names[] = {
        {CAP_NET_RAW, "cap_net_raw"},     {CAP_NET_ADMIN, "cap_net_admin"},
        {CAP_IPC_LOCK, "cap_ipc_lock"},   {CAP_SYS_ADMIN, "cap_sys_admin"},
        {CAP_SYS_RAWIO, "cap_sys_rawio"}, {CAP_DAC_OVERRIDE, "cap_dac_override"},
};

static void pd_caps_str(uint64_t keep, char *buf, size_t len)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(pd_names) / sizeof(pd_names[0]); i++)
		if (keep & PRIVDROP_CAP(pd_names[i].cap))
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "," : "",
			                      pd_names[i].name);
	if (n == 0)
		snprintf(buf, len, "none");
}

/* Bounding set down to keep, ambient set empty.  0, or -1 (logged). */
static int pd_bounding(const char *cmd, uint64_t keep)
{
	int c;

	for (c = 0; c < PRIVDROP_CAPS_MAX; c++) {
		if (keep & PRIVDROP_CAP(c))
			continue;
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0)
			break; /* past the kernel's last capability */
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			log_error("%s: prctl PR_CAPBSET_DROP %d: %s", cmd, c, strerror(errno));
			return -1;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		log_error("%s: prctl PR_CAP_AMBIENT_CLEAR_ALL: %s", cmd, strerror(errno));
		return -1;
	}
	return 0;
}

/* Permitted = effective = keep, inheritable none.  0, or -1 (logged). */
static int pd_capset(const char *cmd, uint64_t keep)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	memset(d, 0, sizeof(d));
	d[0].permitted = d[0].effective = (uint32_t)keep;
	d[1].permitted = d[1].effective = (uint32_t)(keep >> 32);
	if (syscall(SYS_capset, &hdr, d) < 0) {
		log_error("%s: capset: %s", cmd, strerror(errno));
		return -1;
	}
	return 0;
}

static int pd_chown_one(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb;
	(void)type;
	(void)f;
	if (fchownat(AT_FDCWD, path, pd_uid, pd_gid, AT_SYMLINK_NOFOLLOW) < 0) {
		log_error("privdrop: chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The state directory becomes the user's (0700).  CLI_OK, or an exit
 * code (logged). */
static int pd_state_dir(const char *cmd, const char *dir, const struct passwd *pw)
{
	struct stat sb;

	if (stat(dir, &sb) < 0) {
		log_error("%s: state dir %s: stat: %s", cmd, dir, strerror(errno));
		return CLI_FAIL;
	}
	if (sb.st_uid != 0 && sb.st_uid != pw->pw_uid) {
		log_error("%s: state dir %s is owned by uid %u, not by --user %s (uid %u): "
		          "chown it to %s or run as its owner",
		          cmd, dir, (unsigned)sb.st_uid, pw->pw_name, (unsigned)pw->pw_uid,
		          pw->pw_name);
		return CLI_REFUSED;
	}
	pd_uid = pw->pw_uid;
	pd_gid = pw->pw_gid;
	if (nftw(dir, pd_chown_one, PRIVDROP_FDS, FTW_PHYS | FTW_MOUNT) != 0)
		return CLI_FAIL;
	if (chmod(dir, 0700) < 0) {
		log_error("%s: state dir %s: chmod 0700: %s", cmd, dir, strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* setgroups/setgid/setuid keeping the permitted set for capset.  0, or -1. */
static int pd_switch(const char *cmd, const struct passwd *pw, uint64_t keep)
{
	if (keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
		log_error("%s: prctl PR_SET_KEEPCAPS: %s", cmd, strerror(errno));
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_error("%s: --user %s: setgroups/setgid/setuid: %s", cmd, pw->pw_name,
		          strerror(errno));
		return -1;
	}
	if (pd_capset(cmd, keep) < 0)
		return -1;
	if (keep && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) {
		log_error("%s: prctl PR_SET_KEEPCAPS 0: %s", cmd, strerror(errno));
		return -1;
	}
	/* Cheap and always checked: root must be out of reach now. */
	ENSURE(getuid() == pw->pw_uid && geteuid() == pw->pw_uid && getegid() == pw->pw_gid);
	ENSURE(setuid(0) < 0);
#if defined(__SANITIZE_ADDRESS__)
	/* Sanitizer builds only: setuid cleared the dumpable flag, and LeakSanitizer's exit
	 * check ptraces the process from a helper of its own; without this it cannot attach. */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		log_warn("%s: prctl PR_SET_DUMPABLE (sanitizer build): %s", cmd, strerror(errno));
#endif
	return 0;
}

int privdrop_apply(const char *cmd, const char *state_dir, uint64_t keep)
{
	const char *name = pd_user[0] ? pd_user : cli_env("TRADES_USER", NULL);
	const struct passwd *pw;
	char caps[160];
	int rc;

	pd_caps_str(keep, caps, sizeof(caps));
	if (!name) {
		if (geteuid() == 0 && pd_bounding(cmd, keep) < 0)
			return CLI_FAIL;
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
			log_error("%s: prctl PR_SET_NO_NEW_PRIVS: %s", cmd, strerror(errno));
			return CLI_FAIL;
		}
		if (geteuid() == 0)
			log_warn("privileges: running as root (no --user); bounding set: %s, "
			         "no_new_privs",
			         caps);
		return CLI_OK;
	}
	errno = 0;
	pw = getpwnam(name);
	if (!pw) {
		log_error("%s: --user %s: %s", cmd, name, errno ? strerror(errno) : "no such user");
		return CLI_USAGE;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw->pw_uid)
			return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? CLI_FAIL : CLI_OK;
		log_error("%s: --user %s needs root (running as uid %u)", cmd, name,
		          (unsigned)geteuid());
		return CLI_USAGE;
	}
	if ((rc = pd_state_dir(cmd, state_dir, pw)) != CLI_OK)
		return rc;
	if (pd_bounding(cmd, keep) < 0 || pd_switch(cmd, pw, keep) < 0)
		return CLI_FAIL;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_error("%s: prctl PR_SET_NO_NEW_PRIVS: %s", cmd, strerror(errno));
		return CLI_FAIL;
	}
	log_info("privileges: running as user %s (uid %u, gid %u), capabilities kept: %s, "
	         "no_new_privs",
	         pw->pw_name, (unsigned)pw->pw_uid, (unsigned)pw->pw_gid, caps);
	return CLI_OK;
}
