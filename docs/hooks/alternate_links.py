"""MkDocs hook: drop the ``<link rel="alternate" hreflang=...>`` tags from each page's head.

mkdocs-static-i18n points those links at the same page in the other language, while
Material's script treats each one as a language's root and fetches ``sitemap.xml``
beside it, so every page asked the server for files that do not exist (console errors,
caught by tests/test_site.py). Without the tags, the language switch in the header is a
plain link to the translated page, which is what the plugin made it.
"""

import re

_ALTERNATE = re.compile(r'\s*<link rel="alternate" href="[^"]*" hreflang="[^"]*">')


def on_post_page(output, page, config):
    head, sep, body = output.partition("</head>")
    return _ALTERNATE.sub("", head) + sep + body
