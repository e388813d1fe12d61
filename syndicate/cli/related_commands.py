"""``related``: show the related articles of one article, with the reasons for each score."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from ..store import open_store
from . import AppContext, cli, now_option, pass_app

__all__ = ["cli"]


@cli.command(name="related")
@click.argument("ident", metavar="ID")
@click.option("-n", "--limit", type=click.IntRange(min=1), help="How many related articles  [default: digest.related]")
@now_option
@pass_app
def related_command(app: AppContext, ident: str, limit: int | None, now: datetime | None) -> None:
    """Print the articles related to ID (record id or file, feed id, URL or slug), with scores and reasons.

    Related articles come from the whole archive, outside items included. The
    term index is kept in the state folder, so only new or changed articles are read.

    \b
    Example:
        syndicate related gas-prices --limit 5
    """
    config = app.config()
    now = now or datetime.now(UTC)
    with open_store(config.state_path) as store:
        from ..related import RelatedIndex, find_article, load_archive  # numpy: loaded only for this command

        archive = load_archive(config, store, now=now, skip_invalid=True)
    article = find_article(archive, ident)
    index = RelatedIndex.build(config, archive, cache_dir=config.state_dir)
    items = index.related(article, limit=limit or config.digest.related)
    click.echo(f"Related to: {article.title}\n            {article.url}")
    if not items:
        click.echo("No related articles.")
    for rank, item in enumerate(items, start=1):
        other = item.article
        where = other.source.name if other.source else (other.primary_category or "")
        date = other.published.astimezone(config.tz).date().isoformat()
        click.echo(f"{rank:>2}. {item.score:.4f}  {other.title}")
        click.echo(f"    {other.url} · {date}" + (f" · {where}" if where else ""))
        click.echo(f"    {'; '.join(item.reasons)}")
