# SPDX-License-Identifier: MIT
# A private Postfix instance for tests and benchmarks, sourced by them:
#
#   . tests/integration/postfix_private.sh
#   postfix_private_init DIR HOSTNAME DOMAIN     # DIR/etc, DIR/spool, DIR/data, DIR/maillog
#   cat >> DIR/etc/main.cf <<EOF ... EOF          # the caller's own lines (later lines win)
#   postfix_private_smtpd DIR PORT [-o NAME=VALUE...]   # an smtpd on 127.0.0.1:PORT
#   postfix_private_start DIR
#   postfix_private_stop DIR                      # in the caller's cleanup
#
# Its own configuration, queue and data directories under DIR; loopback only, never port 25;
# every delivery to discard:; no chroot (the private queue has no copy of /etc). The host's
# Postfix is neither used nor touched. Needs root (Postfix's master) and the postfix package.
# The caller defines fail MESSAGE.

postfix_private_init() {
    local d=$1 host=$2 domain=$3
    mkdir -p "$d/etc" "$d/spool" "$d/data"
    chown postfix "$d/data"
    # the package's master.cf (installed at /etc/postfix unless debconf said "No configuration")
    if [ -f /etc/postfix/master.cf ]; then
        cp /etc/postfix/master.cf "$d/etc/master.cf"
    elif [ -f /usr/share/postfix/master.cf.dist ]; then
        cp /usr/share/postfix/master.cf.dist "$d/etc/master.cf"
    else
        fail "no master.cf to start from"
    fi
    grep -q "^postlog" "$d/etc/master.cf" ||
        echo "postlog   unix-dgram n  -       n       -       1       postlogd" >> "$d/etc/master.cf"
    : > "$d/maillog"
    chmod 666 "$d/maillog"
    cat > "$d/etc/main.cf" <<MAINCF
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
meta_directory = /etc/postfix
maillog_file = $d/maillog
maillog_file_prefixes = $d
myhostname = $host
mydomain = $domain
myorigin = \$myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
relay_domains =
relayhost =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_transport = discard:
default_transport = discard:
relay_transport = discard:
virtual_transport = discard:
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_tls_security_level = none
smtp_tls_security_level = none
biff = no
MAINCF
    postconf -c "$d/etc" -F '*/*/chroot = n' >/dev/null
    postconf -c "$d/etc" -M# smtp/inet >/dev/null
}

postfix_private_smtpd() {
    local d=$1 port=$2
    shift 2
    postconf -c "$d/etc" -M "127.0.0.1:$port/inet = 127.0.0.1:$port inet n - n - - smtpd $*" \
        >/dev/null
}

postfix_private_start() {
    local d=$1
    postfix -c "$d/etc" check >"$d/check.log" 2>&1 || { cat "$d/check.log"; fail "postfix check"; }
    postfix -c "$d/etc" start >"$d/start.log" 2>&1 || { cat "$d/start.log"; fail "postfix start"; }
}

postfix_private_stop() {
    local d=$1 pid
    [ -f "$d/spool/pid/master.pid" ] || return 0
    postfix -c "$d/etc" stop >/dev/null 2>&1 || postfix -c "$d/etc" abort >/dev/null 2>&1
    # master exits asynchronously: wait for it (at most 5 s)
    for _ in $(seq 50); do
        pid=$(tr -d ' ' < "$d/spool/pid/master.pid" 2>/dev/null)
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
}
