"""The call graph follows dispatch that is not a call (framework routes, batch record handlers, registries) and every
callable form that is not a `def`; findings name the hop in their call path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.scan_helpers import only, scan_tree

CONSTANT_STUB = 'return {"status": "ok"}'

DISPATCH_CASES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "powertools route": ({
        "app.py": f"""
            from aws_lambda_powertools.event_handler import APIGatewayRestResolver

            app = APIGatewayRestResolver()

            @app.post("/documents")
            def create_document():
                {CONSTANT_STUB}

            def handler(event, context):
                return app.resolve(event, context)
            """}, ("handler", "app.resolve", "route POST /documents", "create_document")),
    "powertools router included": ({
        "app.py": """
            from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
            from routes import router

            app = APIGatewayHttpResolver()
            app.include_router(router, prefix="/orders")

            def handler(event, context):
                return app.resolve(event, context)
            """,
        "routes.py": f"""
            from aws_lambda_powertools.event_handler.router import Router

            router = Router()

            @router.route("/list", method="GET")
            def list_orders():
                {CONSTANT_STUB}
            """}, ("handler", "app.resolve", "route GET /list", "list_orders")),
    "appsync resolver called as app()": ({
        "app.py": f"""
            from aws_lambda_powertools.event_handler import AppSyncResolver

            app = AppSyncResolver()

            @app.resolver(type_name="Query", field_name="getTodo")
            def get_todo(todo_id: str):
                {CONSTANT_STUB}

            def handler(event, context):
                return app(event, context)
            """}, ("handler", "app()", "resolver Query.getTodo", "get_todo")),
    "batch process_partial_response": ({
        "app.py": f"""
            from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

            processor = BatchProcessor(event_type=EventType.SQS)

            def record_handler(record):
                {CONSTANT_STUB}

            def handler(event, context):
                return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                                context=context)
            """}, ("handler", "process_partial_response", "record_handler")),
    "batch_processor decorator": ({
        "app.py": f"""
            from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, batch_processor

            processor = BatchProcessor(event_type=EventType.SQS)

            def record_handler(record):
                {CONSTANT_STUB}

            @batch_processor(record_handler=record_handler, processor=processor)
            def handler(event, context):
                return processor.response()
            """}, ("handler", "batch_processor", "record_handler")),
    "registry decorator": ({
        "app.py": """
            from events import HANDLERS

            def handler(event, context):
                return HANDLERS[event["type"]](event)
            """,
        "events.py": f"""
            HANDLERS = {{}}

            def on(kind):
                def register(fn):
                    HANDLERS[kind] = fn
                    return fn
                return register

            @on("created")
            def on_created(event):
                {CONSTANT_STUB}
            """}, ("handler", "HANDLERS", "@on('created')", "on_created")),
    "lambda bound to a name": ({
        "app.py": """
            process = lambda event: {"status": "ok"}

            def handler(event, context):
                return process(event)
            """}, ("handler", "process")),
    "functools.partial of a function": ({
        "app.py": f"""
            from functools import partial

            def store(event, retries):
                {CONSTANT_STUB}

            store_with_retries = partial(store, retries=3)

            def handler(event, context):
                return store_with_retries(event)
            """}, ("handler", "store")),
    "instance with __call__": ({
        "app.py": f"""
            class Pipeline:
                def __call__(self, event):
                    {CONSTANT_STUB}

            pipeline = Pipeline()

            def handler(event, context):
                return pipeline(event)
            """}, ("handler", "Pipeline.__call__")),
    "staticmethod and classmethod": ({
        "app.py": f"""
            class Steps:
                @classmethod
                def run(cls, event):
                    return cls.finish(event)

                @staticmethod
                def finish(event):
                    {CONSTANT_STUB}

            def handler(event, context):
                return Steps.run(event)
            """}, ("handler", "Steps.run", "Steps.finish")),
    "importlib.import_module and getattr": ({
        "app.py": """
            import importlib

            def handler(event, context):
                module = importlib.import_module("workers.pdf")
                return getattr(module, "convert")(event)
            """,
        "workers/__init__.py": "",
        "workers/pdf.py": f"""
            def convert(event):
                {CONSTANT_STUB}
            """}, ("handler", "convert")),
}


@pytest.mark.parametrize("case", list(DISPATCH_CASES), ids=str)
def test_dispatch_reaches_the_stub_and_shows_the_hop(tmp_path: Path, case: str) -> None:
    files, path = DISPATCH_CASES[case]
    [finding] = only(scan_tree(tmp_path, files), "DV302")
    assert finding.call_path == path


def test_unread_registry_reaches_nothing(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, {"app.py": f"""
        from aws_lambda_powertools.event_handler import APIGatewayRestResolver

        app = APIGatewayRestResolver()

        @app.get("/unused")
        def unused():
            {CONSTANT_STUB}

        def handler(event, context):
            return {{"statusCode": 204, "body": event["body"]}}
        """})
    assert only(report, "DV302") == []


ROUTED_APP = """
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver
    from documents import mock_store

    app = APIGatewayRestResolver()

    @app.post("/documents")
    def create_document():
        return mock_store(app.current_event.json_body)

    def handler(event, context):
        return app.resolve(event, context)
    """


def test_wiring_rules_see_functions_behind_routes(tmp_path: Path) -> None:
    real = "\n".join(["import boto3", "", "", "def store(document):",
                      *(f"    boto3.client('s3').put_object(Bucket='b', Key='k{i}', Body=document)" for i in range(60)),
                      "", "", "def mock_store(document):", "    return {'id': 'doc-1'}", ""])
    report = scan_tree(tmp_path, {"app.py": ROUTED_APP, "documents.py": real},
                       must_reach=("documents.store", "app.create_document"))
    [orphan] = only(report, "DV307")
    assert "`store()`" in orphan.message
    assert orphan.call_path[:3] == ("handler", "app.resolve", "route POST /documents")
    [missing] = only(report, "DV308")  # the route is reached, the real store is not
    assert "`documents.store`" in missing.message
