"""moto's server, with DynamoDB requests handled one at a time.

DynamoDB applies each request atomically: a conditional write or a
TransactWriteItems either sees every earlier write or none. moto's threaded
server runs requests side by side without a lock, so two racing transactions
can both pass their conditions. Serialising DynamoDB requests restores
DynamoDB's guarantees for the race tests, while connections are still
accepted in parallel. Other services are left concurrent: an SQS long poll
held under the lock would stall every other client for its wait time.

It also mends one fidelity gap: DynamoDB's BatchWriteItem rejects duplicate
keys within one table, but moto compares whole items across all tables, so
seed 000's example (the same patient item in pe-patient and cl-patient) is
refused by moto while DynamoDB accepts it.

And one speed fix: moto's SQS computes every queue attribute, message counts
included, each time it reads one (several times per message sent), and each
count asks the clock once per message in the queue. Sending to a queue holding
thousands of messages became quadratic (2 500 reminders: 45 s). The counts
below read the clock once per count; what they return is unchanged.

Usage: python moto_server.py PORT
"""

import json
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.dynamodb.exceptions import MockValidationException
from moto.core.utils import unix_time_millis
from moto.dynamodb.responses import DynamoHandler
from moto.sqs.models import Queue
from werkzeug.serving import run_simple

_batch_write_item = DynamoHandler.batch_write_item


def _batch_write_item_with_per_table_duplicates(self):
    seen = set()
    for table_name, requests in self.body.get("RequestItems", {}).items():
        table = self.dynamodb_backend.get_table(table_name)
        key_names = [k for k in (table.hash_key_attr, table.range_key_attr) if k]
        for request in requests:
            kind, body = next(iter(request.items()))
            item = body.get("Item") or body.get("Key") or {}
            key = json.dumps({k: item.get(k) for k in key_names}, sort_keys=True)
            if (table_name, kind, key) in seen:
                raise MockValidationException("Provided list of item keys contains duplicates")
            seen.add((table_name, kind, key))
    self._contains_duplicates = lambda keys: False
    return _batch_write_item(self)


DynamoHandler.batch_write_item = _batch_write_item_with_per_table_duplicates


def _visible_and_not_delayed(queue):
    now = unix_time_millis()
    return sum(1 for m in queue._messages if now > m.visible_at and not now < m.delayed_until)


def _not_visible(queue):
    now = unix_time_millis()
    return sum(1 for m in queue._messages if not now > m.visible_at)


def _delayed(queue):
    now = unix_time_millis()
    return sum(1 for m in queue._messages if now < m.delayed_until)


Queue.approximate_number_of_messages = property(_visible_and_not_delayed)
Queue.approximate_number_of_messages_not_visible = property(_not_visible)
Queue.approximate_number_of_messages_delayed = property(_delayed)


class DynamoDbOneAtATime:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


def main():
    port = int(sys.argv[1])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, DynamoDbOneAtATime(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
