"""A fixed lender / market / events API for the benchmark (docs/design.md §2.2)."""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "borrows"]:
            body = '{"ticker":"%s","rate":0.021,"status":"HARD"}' % parts[3]
        elif parts[:3] == ["api", "v1", "events"]:
            body = '{"ticker":"%s","risk_factor":2}' % parts[3]
        else:
            body = '{"value":24.5}'
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.serve_forever()
