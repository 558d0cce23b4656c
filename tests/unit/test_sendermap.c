/* SPDX-License-Identifier: MIT */
/* The local_login_sender_maps table: maillimit__sendermap_build() and _write(). */
#define _GNU_SOURCE

/* Built only when unit_tests links libmaillimit_server (maillimit_server_static defines
 * MAILLIMIT_HAVE_SERVER for its users); otherwise this file is empty. */
#ifdef MAILLIMIT_HAVE_SERVER

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maillimit.h"
#include "maillimit/server.h"
#include "srv_internal.h"

/* Domains declared out of order; acme-shop sorts between acme and beta and must not lend
 * its domain to acme; "empty" has no domain; www-data and deploy are script users. */
static const char conf[] = "subscription acme\n"
                           "domain shop.example subscription=acme\n"
                           "domain acme.example subscription=acme\n"
                           "sysuser acme_web subscription=acme\n"
                           "sysuser www-data subscription=acme\n"
                           "subscription acme-shop\n"
                           "domain a-shop.example subscription=acme-shop\n"
                           "subscription beta\n"
                           "domain beta.example subscription=beta\n"
                           "sysuser beta_app subscription=beta\n"
                           "sysuser deploy subscription=beta\n"
                           "subscription empty\n"
                           "sysuser lonely subscription=empty\n";

#define HEADER                                                                                 \
    "# maillimitd: Postfix local_login_sender_maps (texthash), replaced whenever the\n"       \
    "# hierarchy changes; do not edit. main.cf: local_login_sender_maps =\n"                  \
    "#     texthash:THIS_FILE, static:*\n"

static maillimit *ml;
static char dir[64];

static void setup(void)
{
    char err[256];
    cr_assert_eq(maillimit_new(&ml), 0);
    cr_assert_eq(maillimit_config_load_mem(ml, conf, strlen(conf), err, sizeof err), 0, "%s",
                 err);
    snprintf(dir, sizeof dir, "/tmp/maillimit-sendermap-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    maillimit_free(ml);
    DIR *d = opendir(dir);
    if (d) {
        char p[400];
        for (struct dirent *e; (e = readdir(d));) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (unlink(p) != 0)
                rmdir(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

TestSuite(sendermap, .init = setup, .fini = teardown);

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    static char buf[65536];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static int entries(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- build -------------------------------------------------------------------------------- */

Test(sendermap, build_with_origin)
{
    char *scripts[] = { "www-data", "deploy" };
    char *text = NULL, warn[128] = "junk";
    size_t len = 0;
    cr_assert_eq(maillimit__sendermap_build(ml, "mx.example", scripts, 2, &text, &len, warn,
                                            sizeof warn), 0);
    const char want[] = HEADER "acme_web\tacme_web, acme_web@mx.example, @acme.example, "
                               "@shop.example\n"
                               "beta_app\tbeta_app, beta_app@mx.example, @beta.example\n"
                               "lonely\tlonely, lonely@mx.example\n";
    cr_assert_str_eq(text, want);
    cr_assert_eq(len, sizeof want - 1);
    /* the script users among the system users, in the listing's order */
    cr_assert_str_eq(warn, "deploy, www-data");
    free(text);
}

Test(sendermap, build_without_origin)
{
    char *scripts[] = { "www-data" };
    char *text = NULL, warn[128];
    size_t len = 0;
    cr_assert_eq(maillimit__sendermap_build(ml, "", scripts, 1, &text, &len, warn, sizeof warn),
                 0);
    const char want[] = HEADER "acme_web\tacme_web, @acme.example, @shop.example\n"
                               "beta_app\tbeta_app, @beta.example\n"
                               "deploy\tdeploy, @beta.example\n"
                               "lonely\tlonely\n";
    cr_assert_str_eq(text, want);
    cr_assert_eq(len, sizeof want - 1);
    cr_assert_str_eq(warn, "www-data");
    free(text);
    /* a NULL origin is no origin; no warning buffer is fine */
    cr_assert_eq(maillimit__sendermap_build(ml, NULL, scripts, 1, &text, &len, NULL, 0), 0);
    cr_assert_str_eq(text, want);
    free(text);
}

Test(sendermap, build_warning_truncated_and_empty)
{
    char *scripts[] = { "www-data", "deploy" };
    char *text = NULL, warn[8];
    size_t len = 0;
    cr_assert_eq(maillimit__sendermap_build(ml, "mx.example", scripts, 2, &text, &len, warn,
                                            sizeof warn), 0);
    cr_assert_str_eq(warn, "deploy,");
    free(text);
    /* no script user is a system user: no warning, every system user listed */
    char *none[] = { "nobody" };
    strcpy(warn, "junk");
    cr_assert_eq(maillimit__sendermap_build(ml, "mx.example", none, 1, &text, &len, warn,
                                            sizeof warn), 0);
    cr_assert_str_eq(warn, "");
    cr_assert_not_null(strstr(text, "\ndeploy\tdeploy, deploy@mx.example, @beta.example\n"));
    cr_assert_not_null(strstr(text, "\nwww-data\twww-data, www-data@mx.example, "
                                    "@acme.example, @shop.example\n"));
    free(text);
}

Test(sendermap, build_empty_hierarchy_is_the_header)
{
    maillimit *empty;
    cr_assert_eq(maillimit_new(&empty), 0);
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(maillimit__sendermap_build(empty, "mx.example", NULL, 0, &text, &len, NULL, 0),
                 0);
    cr_assert_str_eq(text, HEADER);
    cr_assert_eq(len, sizeof HEADER - 1);
    free(text);
    maillimit_free(empty);
}

/* ---- write -------------------------------------------------------------------------------- */

Test(sendermap, write_creates_with_mode_0644)
{
    char path[128], err[512] = "";
    snprintf(path, sizeof path, "%s/sender_map", dir);
    mode_t old = umask(077);
    int rc = maillimit__sendermap_write(path, "a\tb\n", 4, err, sizeof err);
    umask(old);
    cr_assert_eq(rc, 0, "%s", err);
    size_t len;
    cr_assert_str_eq(slurp(path, &len), "a\tb\n");
    cr_assert_eq(len, 4);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0644, "mode %o", (unsigned)(st.st_mode & 07777));
    cr_assert_eq(entries(), 1, "no temporary file left behind");
}

Test(sendermap, write_replaces_an_existing_file)
{
    char path[128], err[512] = "";
    snprintf(path, sizeof path, "%s/sender_map", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("old content that is longer than the new one\n", f);
    fclose(f);
    cr_assert_eq(chmod(path, 0600), 0);
    struct stat before, after;
    cr_assert_eq(stat(path, &before), 0);
    cr_assert_eq(maillimit__sendermap_write(path, "new\n", 4, err, sizeof err), 0, "%s", err);
    size_t len;
    cr_assert_str_eq(slurp(path, &len), "new\n");
    cr_assert_eq(stat(path, &after), 0);
    cr_assert_eq(after.st_mode & 07777, 0644);
    cr_assert_neq(after.st_ino, before.st_ino, "replaced by a rename, not rewritten in place");
    cr_assert_eq(entries(), 1);
    /* an empty text empties it */
    cr_assert_eq(maillimit__sendermap_write(path, "", 0, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(slurp(path, &len), "");
    cr_assert_eq(len, 0);
}

Test(sendermap, write_into_a_missing_directory)
{
    char path[128], want[256], err[512] = "";
    snprintf(path, sizeof path, "%s/missing/sender_map", dir);
    cr_assert_eq(maillimit__sendermap_write(path, "x\n", 2, err, sizeof err), MAILLIMIT_EIO);
    snprintf(want, sizeof want, "%s.tmp.%ld: cannot create: %s", path, (long)getpid(),
             strerror(ENOENT));
    cr_assert_str_eq(err, want);
    cr_assert_eq(entries(), 0);
}

Test(sendermap, write_over_a_directory_fails_and_cleans_up)
{
    char path[128], want[256], err[512] = "";
    snprintf(path, sizeof path, "%s/sender_map", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    cr_assert_eq(maillimit__sendermap_write(path, "x\n", 2, err, sizeof err), MAILLIMIT_EIO);
    snprintf(want, sizeof want, "%s: rename: %s", path, strerror(EISDIR));
    cr_assert_str_eq(err, want);
    cr_assert_eq(entries(), 1, "the temporary file is removed");
}

Test(sendermap, write_path_too_long)
{
    char *path = malloc(4300), err[8192] = "";
    memset(path, 'p', 4299);
    path[0] = '/';
    path[4299] = '\0';
    cr_assert_eq(maillimit__sendermap_write(path, "x\n", 2, err, sizeof err), MAILLIMIT_EINVAL);
    cr_assert_eq(strlen(err), 4299 + strlen(": path too long"));
    cr_assert_str_eq(err + 4299, ": path too long");
    free(path);
}

#else
typedef int maillimit_test_no_server_layer_sendermap;
#endif /* MAILLIMIT_HAVE_SERVER */
