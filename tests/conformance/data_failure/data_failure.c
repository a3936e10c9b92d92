/*
 * data_failure.c — failure behaviour of the server data backends
 * (postgresql, mysql), through the public data-store API:
 *   - server down (a closed port) and server silent (a port that accepts
 *     TCP but never answers): open returns MR_EUNAVAILABLE naming the
 *     backend and the address, within the configured timeout (the elapsed
 *     time is printed, never asserted);
 *   - wrong password: MR_EAUTH;
 *   - dropped connection (the server kills our session from a second,
 *     administrative connection): the next get / commit / add reconnects
 *     and succeeds, and committed data is intact, also after reopening.
 * Usage: data_failure_bin postgresql|mysql.  Needs MR_TEST_PG_URL or
 * MR_TEST_MYSQL_URL (from scripts/servers/postgres or mariadb);
 * SKIPPED otherwise.  The dropped-
 * connection case works in its own database (mailroom_failtest, created by
 * the server scripts) so it never kills another test's sessions.
 */
#include "harness.h"
#include "mailroom/config.h"
#include "mailroom/data.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if MR_FT_HAVE_POSTGRES
#include <libpq-fe.h>
#endif
#if MR_FT_HAVE_MYSQL
#include <mysql.h>
#endif

static const char *backend; /* "postgresql" or "mysql" */
static const char *base_url;

#define FT_DB "mailroom_failtest"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* url with its password and/or database replaced (NULL: keep). */
static void url_with(char *out, size_t cap, const char *url, const char *password, const char *db)
{
	const char *auth = strstr(url, "://");
	auth = auth ? auth + 3 : url;
	const char *slash = strchr(auth, '/');
	const char *hostpart_end = slash ? slash : auth + strlen(auth);
	const char *at = NULL;
	for (const char *p = auth; p < hostpart_end; p++)
		if (*p == '@')
			at = p;
	const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	int n;
	if (password && colon)
		n = snprintf(out, cap, "%.*s%s%.*s", (int)(colon + 1 - url), url, password, (int)(hostpart_end - at),
			     at);
	else
		n = snprintf(out, cap, "%.*s", (int)(hostpart_end - url), url);
	if (db)
		snprintf(out + n, cap - (size_t)n, "/%s", db);
	else if (slash)
		snprintf(out + n, cap - (size_t)n, "%s", slash);
}

static int open_text(mr_data **out, mr_config **cfg_out, const char *text)
{
	*out = NULL;
	*cfg_out = NULL;
	int rc = mr_config_parse(cfg_out, text, strlen(text), "failure-test.toml");
	if (rc < 0)
		return rc;
	return mr_data_open(out, *cfg_out, "t");
}

static int open_url(mr_data **out, mr_config **cfg_out, const char *url)
{
	char text[1024];
	snprintf(text, sizeof text,
		 "[storage]\ndata = \"t\"\n\n[store.\"t\"]\ntype = \"%s\"\nurl = \"%s\"\ntimeout = \"3s\"\n"
		 "pool.max-connections = 4\n",
		 backend, url);
	return open_text(out, cfg_out, text);
}

/* A 127.0.0.1 port nobody listens on (bound, then closed). */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	close(fd);
	return ntohs(a.sin_port);
}

/* A listening socket that never accepts: the kernel completes the TCP
 * handshake, the client then waits for a server that never speaks. */
static int silent_listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static void check_unreachable(int port, const char *label)
{
	char text[1024], addr[64];
	snprintf(text, sizeof text,
		 "[storage]\ndata = \"t\"\n\n[store.\"t\"]\ntype = \"%s\"\nhost = \"127.0.0.1\"\nport = %d\n"
		 "database = \"mailroom\"\nuser = \"mr\"\npassword = \"x\"\ntimeout = \"2s\"\n",
		 backend, port);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	mr_data *d = NULL;
	mr_config *cfg = NULL;
	uint64_t t0 = now_ms();
	int rc = open_text(&d, &cfg, text);
	uint64_t elapsed = now_ms() - t0;
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", mr_error_last()->message);
	printf("  %s %s: returned %s after %llu ms (timeout 2000 ms): %s\n", backend, label, mr_error_code_name(rc),
	       (unsigned long long)elapsed, msg);
	mr_data_close(d);
	mr_config_free(cfg);
	MR_CHECK_RC(rc, MR_EUNAVAILABLE);
	MR_CHECK(strstr(msg, addr) != NULL);
	MR_CHECK(strstr(msg, backend) != NULL);
}

static void t_server_down(void)
{
	int port = closed_port();
	MR_CHECK(port > 0);
	check_unreachable(port, "server down (connection refused)");
}

static void t_server_silent(void)
{
	int port = 0;
	int fd = silent_listener(&port);
	MR_CHECK(fd >= 0);
	check_unreachable(port, "server silent (accepts TCP, never answers)");
	close(fd);
}

static void t_wrong_password(void)
{
	char url[1024];
	url_with(url, sizeof url, base_url, "certainly-not-the-password", NULL);
	mr_data *d = NULL;
	mr_config *cfg = NULL;
	int rc = open_url(&d, &cfg, url);
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", mr_error_last()->message);
	printf("  %s wrong password: %s: %s\n", backend, mr_error_code_name(rc), msg);
	mr_data_close(d);
	mr_config_free(cfg);
	MR_CHECK_RC(rc, MR_EAUTH);
	MR_CHECK(strstr(msg, "certainly-not") == NULL); /* never echo the secret */
}

/* Kills every session of the test database except the admin's own;
 * returns how many were killed, or -1. */
static int kill_sessions(void)
{
	char url[1024];
	int killed = -1;
	url_with(url, sizeof url, base_url, NULL, FT_DB);
#if MR_FT_HAVE_POSTGRES
	if (strcmp(backend, "postgresql") == 0) {
		PGconn *c = PQconnectdb(url);
		if (PQstatus(c) == CONNECTION_OK) {
			/* the second argument waits until the backends are gone (PG >= 14) */
			PGresult *r = PQexec(c, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM "
						"pg_stat_activity WHERE datname = current_database() AND pid <> "
						"pg_backend_pid()) t");
			if (PQresultStatus(r) == PGRES_TUPLES_OK)
				killed = atoi(PQgetvalue(r, 0, 0));
			else
				fprintf(stderr, "kill: %s", PQresultErrorMessage(r));
			PQclear(r);
		} else {
			fprintf(stderr, "kill: connect: %s", PQerrorMessage(c));
		}
		PQfinish(c);
	}
#endif
#if MR_FT_HAVE_MYSQL
	if (strcmp(backend, "mysql") == 0) {
		/* mysql://user:password@host:port/db */
		char user[128] = "", pass[256] = "", host[128] = "";
		unsigned port = 3306;
		if (sscanf(base_url, "mysql://%127[^:]:%255[^@]@%127[^:/]:%u", user, pass, host, &port) < 3)
			return -1;
		MYSQL *m = mysql_init(NULL);
		if (mysql_real_connect(m, host, user, pass, NULL, port, NULL, 0)) {
			killed = 0;
			if (mysql_query(m, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '" FT_DB
					   "' AND ID <> CONNECTION_ID()") == 0) {
				MYSQL_RES *res = mysql_store_result(m);
				MYSQL_ROW row;
				char sql[64];
				while (res && (row = mysql_fetch_row(res))) {
					snprintf(sql, sizeof sql, "KILL CONNECTION %s", row[0]);
					if (mysql_query(m, sql) == 0)
						killed++;
				}
				if (res)
					mysql_free_result(res);
			}
			/* KILL returns before the session has gone; wait (bounded) */
			for (int i = 0; i < 50; i++) {
				if (mysql_query(m, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '" FT_DB
						   "' AND ID <> CONNECTION_ID()") != 0)
					break;
				MYSQL_RES *res = mysql_store_result(m);
				MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
				bool gone = row && strcmp(row[0], "0") == 0;
				if (res)
					mysql_free_result(res);
				if (gone)
					break;
				usleep(100000);
			}
		} else {
			fprintf(stderr, "kill: connect: %s\n", mysql_error(m));
		}
		mysql_close(m);
	}
#endif
	return killed;
}

static const uint8_t k1[] = {MR_SUBSPACE_TEST, 'f', 't', 0x00, 0xff, '1'};
static const uint8_t k2[] = {MR_SUBSPACE_TEST, 'f', 't', 0x00, 0xff, '2'};
static const uint8_t kc[] = {MR_SUBSPACE_TEST, 'f', 't', 'c'};

static void t_dropped_connection(void)
{
	char url[1024];
	url_with(url, sizeof url, base_url, NULL, FT_DB);
	mr_data *d = NULL;
	mr_config *cfg = NULL;
	mr_batch *b = NULL;
	mr_buf v = MR_BUF_INIT;
	int64_t n = 0;
	MR_CHECK_OK(open_url(&d, &cfg, url));

	/* committed before any connection is dropped */
	MR_CHECK_OK(mr_batch_new(&b, d));
	MR_CHECK_OK(mr_batch_set(b, mr_slice_of(k1, sizeof k1), mr_slice_str("committed-1")));
	MR_CHECK_OK(mr_batch_clear(b, mr_slice_of(k2, sizeof k2)));
	MR_CHECK_OK(mr_batch_clear(b, mr_slice_of(kc, sizeof kc)));
	MR_CHECK_OK(mr_batch_commit(b));
	MR_CHECK_OK(mr_data_add_and_get(d, mr_slice_of(kc, sizeof kc), 5, &n));
	MR_CHECK_EQ_INT(n, 5);

	/* dropped, then a read */
	int killed = kill_sessions();
	printf("  %s: killed %d session(s), then get\n", backend, killed);
	MR_CHECK(killed >= 1);
	MR_CHECK_OK(mr_data_get(d, mr_slice_of(k1, sizeof k1), &v));
	MR_CHECK(mr_slice_eq(mr_buf_slice(&v), mr_slice_str("committed-1")));

	/* dropped, then a multi-op commit */
	killed = kill_sessions();
	printf("  %s: killed %d session(s), then commit\n", backend, killed);
	MR_CHECK(killed >= 1);
	mr_batch_reset(b);
	MR_CHECK_OK(mr_batch_assert_value(b, mr_slice_of(k1, sizeof k1), mr_slice_str("committed-1")));
	MR_CHECK_OK(mr_batch_set(b, mr_slice_of(k2, sizeof k2), mr_slice_str("committed-2")));
	MR_CHECK_OK(mr_batch_commit(b));

	/* dropped, then a counter add */
	killed = kill_sessions();
	printf("  %s: killed %d session(s), then add_and_get\n", backend, killed);
	MR_CHECK(killed >= 1);
	MR_CHECK_OK(mr_data_add_and_get(d, mr_slice_of(kc, sizeof kc), 1, &n));
	MR_CHECK_EQ_INT(n, 6);

	/* dropped, then a scan */
	killed = kill_sessions();
	MR_CHECK(killed >= 1);
	mr_range r = {.begin = mr_slice_of(k1, sizeof k1), .end = mr_slice_of(k2, sizeof k2), .end_inclusive = true};
	mr_iter *it = NULL;
	MR_CHECK_OK(mr_data_scan(d, &r, &it));
	mr_slice key, val;
	int count = 0, step;
	while ((step = mr_iter_next(it, &key, &val)) == 1)
		count++;
	mr_iter_free(it);
	MR_CHECK_RC(step, 0);
	MR_CHECK_EQ_INT(count, 2);

	mr_batch_free(b);
	b = NULL;
	mr_data_close(d);
	d = NULL;
	mr_config_free(cfg);
	cfg = NULL;

	/* everything committed is there after reopening */
	MR_CHECK_OK(open_url(&d, &cfg, url));
	MR_CHECK_OK(mr_data_get(d, mr_slice_of(k1, sizeof k1), &v));
	MR_CHECK(mr_slice_eq(mr_buf_slice(&v), mr_slice_str("committed-1")));
	MR_CHECK_OK(mr_data_get(d, mr_slice_of(k2, sizeof k2), &v));
	MR_CHECK(mr_slice_eq(mr_buf_slice(&v), mr_slice_str("committed-2")));
	MR_CHECK_OK(mr_data_get_counter(d, mr_slice_of(kc, sizeof kc), &n));
	MR_CHECK_EQ_INT(n, 6);
	mr_buf_dispose(&v);
	mr_data_close(d);
	mr_config_free(cfg);
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "postgresql") != 0 && strcmp(argv[1], "mysql") != 0)) {
		fprintf(stderr, "usage: %s postgresql|mysql\n", argv[0]);
		return 2;
	}
	backend = argv[1];
	const char *var = strcmp(backend, "postgresql") == 0 ? "MR_TEST_PG_URL" : "MR_TEST_MYSQL_URL";
	base_url = getenv(var);
	if (!base_url || !*base_url)
		MR_TEST_SKIP("%s is not set (start the server with scripts/servers/%s start and source $MR_RUN_DIR/env)",
			     var, strcmp(backend, "postgresql") == 0 ? "postgres" : "mariadb");
	MR_TEST_RUN(t_server_down);
	MR_TEST_RUN(t_server_silent);
	MR_TEST_RUN(t_wrong_password);
	MR_TEST_RUN(t_dropped_connection);
	MR_TEST_DONE();
}
