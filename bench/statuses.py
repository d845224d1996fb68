#!/usr/bin/env python3
"""Counts the answers the server logged during a benchmark, by route and
status, and the internal errors behind any 500s, from its JSON log.

wrk only says how many answers were not 2xx; this shows which they were,
so an expected 409 cannot hide a 500.

Usage: statuses.py SERVER_LOG
"""

import collections
import json
import sys


def main():
    answers = collections.Counter()
    errors = collections.Counter()
    with open(sys.argv[1], encoding="utf-8") as log:
        for line in log:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            span = event.get("span") or {}
            if event.get("message") == "request" and "status" in event:
                answers[(span.get("http.method"), span.get("http.route"), event["status"])] += 1
            elif event.get("level") == "ERROR":
                errors[str(event.get("error", event.get("message")))[:160]] += 1
    print("| method | route | status | answers |")
    print("|---|---|---|---|")
    for (method, route, status), n in sorted(answers.items(), key=lambda kv: str(kv[0])):
        print(f"| {method} | {route} | {status} | {n} |")
    if errors:
        print()
        print("| internal error logged | times |")
        print("|---|---|")
        for text, n in errors.most_common(5):
            print(f"| {text.replace('|', '/')} | {n} |")


if __name__ == "__main__":
    main()
