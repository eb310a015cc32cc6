// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/priv.h"
#include "prov_auth.h"
#include "prov_chan.h"
#include "prov_trial.h"
#include "prov_daemon.h"
#include "prov_http.h"
#include "prov_version.h"

/*
 * The admin's password, from a file only its owner may read (never from
 * the command line, where every user sees it): one line, 8 to 256 bytes.
 */
static int read_password(const char *path, char *out, size_t len)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return log_errno(-errno, "admin-password-file %s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		return log_errno(-EPERM, "admin-password-file %s: a regular file that only its "
				 "owner may read (chmod 600)", path);
	}
	n = read(fd, out, len - 1);
	close(fd);
	if (n < 0)
		return log_errno(-errno, "reading %s", path);
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	if (strlen(out) < 8)
		return log_errno(-EINVAL, "admin-password-file %s: at least 8 characters", path);
	return 0;
}

static void on_changed(void *arg)
{
	prov_chan_changed(arg);
}

static void on_signal(struct ev_loop *loop, void *arg, int what)
{
	(void)arg;
	log_notice("signal %d: stopping", what);
	ev_stop(loop);
}

int prov_daemon_run(const struct prov_config *cfg, const char *path)
{
	static const int sigs[] = { SIGTERM, SIGINT };
	struct ev_handle *sig[2] = { NULL, NULL };
	struct prov_model model = { NULL };
	struct prov_api api = { .model = &model, .token_lifetime_ms = cfg->token_lifetime_ms,
				.stats = cfg->statistics, .n_stats = cfg->n_statistics };
	struct prov_http *http = NULL;
	struct prov_chan *chan = NULL;
	struct ev_loop *loop = NULL;
	struct prov_error e;
	char password[257] = "", why[256];
	int64_t version = 0;
	int r;

	(void)path;
	signal(SIGPIPE, SIG_IGN);
	if (cfg->admin_password_file[0] &&
	    (r = read_password(cfg->admin_password_file, password, sizeof(password))) < 0)
		return r;
	if ((r = prov_auth_init()) < 0) {
		log_errno(r, "initialising libsodium");
		goto out;
	}
	if ((r = ev_block_signals(sigs, 2)) < 0 || !(loop = ev_loop_new())) {
		r = log_errno(r < 0 ? r : -ENOMEM, "starting the event loop");
		goto out;
	}
	for (unsigned i = 0; i < 2; i++)
		if ((r = ev_signal_add(loop, sigs[i], on_signal, NULL, &sig[i])) < 0)
			goto out;
	if ((r = prov_http_start(loop, cfg, &api, &http)) < 0)
		goto out;
	/* Nothing is kept: the provisioner serves HTTP on a socket it has
	 * bound already and writes its own database. */
	if ((r = priv_drop(cfg->user, NULL, 0)) < 0) {
		log_errno(r, "dropping privileges");
		goto out;
	}
	if ((r = prov_model_open(&model, cfg->database, why, sizeof(why))) < 0) {
		log_errno(r, "database %s: %s", cfg->database, why);
		goto out;
	}
	if (password[0] && (r = prov_bootstrap_admin(&model, cfg->admin_user, password, &e)) < 0) {
		r = log_errno(-EINVAL, "creating admin user %s: %s: %s", cfg->admin_user, e.field,
			      e.message);
		goto out;
	}
	sodium_memzero(password, sizeof(password));
	/* the push starts with what the targets acknowledged before a restart */
	if ((r = prov_chan_open(loop, cfg, &model, &chan)) < 0)
		goto out;
	api.changed = on_changed;
	api.changed_arg = chan;
	if (chan)
		api.trials = (struct prov_trial_runner){ .start = prov_chan_trial, .arg = chan };
	if (prov_trial_recover(&model, &e) < 0)
		log_warn("closing the trials a previous run left: %s", e.message);
	prov_version_current(&model, &version, &e);
	log_notice("ready: database %s at version %" PRId64, cfg->database, version);
	loom_daemon_ready(); /* a supervisor waiting for READY=1 may go on */
	r = ev_run(loop);
out:
	sodium_memzero(password, sizeof(password));
	prov_http_stop(http);
	prov_chan_close(chan);
	for (unsigned i = 0; i < 2; i++)
		ev_cancel(&sig[i]);
	if (model.db)
		prov_model_close(&model);
	if (loop)
		ev_loop_free(loop);
	return r < 0 ? r : 0;
}
