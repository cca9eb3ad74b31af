#!/usr/bin/env python3
"""A minimal ClickHouse HTTP interface in front of chDB (in-process ClickHouse).

qryn, the Loki-API server the tests use, needs ClickHouse over HTTP. No recent ClickHouse
server installs from these package registries, but chDB (PyPI) embeds ClickHouse itself.
This ~100-line front speaks the part of ClickHouse's HTTP protocol qryn uses:

- the query comes from the `query` URL parameter and/or the request body (ClickHouse
  joins them with a newline, so an INSERT's data can follow in the body);
- `database` selects the current database; other URL parameters are settings, applied
  with SET in the one chDB session that holds all state;
- errors are HTTP 500 with ClickHouse's exception text; `GET /` and `/ping` answer "Ok.".

Requests are served one at a time: a chDB session is not thread-safe.

Usage: chdb_http.py PORT DATA_DIR
"""
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

from chdb import session as chs

PORT = int(sys.argv[1])
DATA = sys.argv[2]
SESSION = chs.Session(DATA)
SESSION.query("SET output_format_json_quote_64bit_integers = 1")
IGNORED = {"query", "database", "user", "password", "session_id", "session_timeout", "query_id",
           "default_format", "compress", "decompress", "enable_http_compression", "wait_end_of_query"}
APPLIED = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet; errors are logged below
        pass

    def reply(self, status, body, ctype="text/plain; charset=UTF-8"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        params = urllib.parse.parse_qs(url.query)
        if "query" not in params:
            return self.reply(200, b"Ok.\n")
        self.run(params, b"")

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        params = urllib.parse.parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = read_chunked(self.rfile)
        self.run(params, body)

    def run(self, params, body):
        query = params.get("query", [""])[0]
        text = body.decode("utf-8", "replace")
        sql = f"{query}\n{text}" if query and text else (query or text)
        try:
            for key, values in params.items():
                if key not in IGNORED and APPLIED.get(key) != values[0]:
                    SESSION.query(f"SET {key} = '{values[0]}'")
                    APPLIED[key] = values[0]
            db = params.get("database", [None])[0]
            if db and db != APPLIED.get("__db"):
                exists = SESSION.query(f"SELECT count() FROM system.databases WHERE name = '{db}'", "CSV")
                if exists.bytes().strip() == b"1":
                    SESSION.query(f"USE {db}")
                    APPLIED["__db"] = db
            result = SESSION.query(sql, "TabSeparated")
            self.reply(200, result.bytes())
        except Exception as e:  # chDB raises with ClickHouse's own message
            msg = str(e)
            print(f"chdb error: {msg[:500]}\nquery: {sql[:300]}", file=sys.stderr, flush=True)
            self.reply(500, msg.encode())


def read_chunked(f):
    out = b""
    while True:
        size = int(f.readline().strip() or b"0", 16)
        if size == 0:
            f.readline()
            return out
        out += f.read(size)
        f.readline()


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
