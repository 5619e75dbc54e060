"""`paperfeed digest ...`: email digests from the command line (the web app shares the same core).

    digest run       build and send every digest that is due (what the server also runs on schedule)
    digest preview   print the next digest of one subscriber, without sending or recording anything
"""

from __future__ import annotations

import typer

digest_app = typer.Typer(no_args_is_help=True, help="Email digests: preview, run.")


from paperfeed.cli.digest_subscribe import subscribe as _subscribe  # noqa: E402  (SUBSCRIPTIONS)

digest_app.command("subscribe")(_subscribe)

from paperfeed.cli.digest_preview import preview as _preview  # noqa: E402  (DIGEST CONTENT)

digest_app.command("preview")(_preview)

from paperfeed.cli.digest_run import run as _run  # noqa: E402  (DELIVERY)

digest_app.command("run")(_run)
