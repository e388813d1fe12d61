<?xml version="1.0" encoding="utf-8"?>
<!-- Shows an RSS 2.0 or Atom feed as a readable page when it is opened in a browser.
     Feed readers ignore the xml-stylesheet instruction that points here. -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    exclude-result-prefixes="atom dc">
  <xsl:output method="html" encoding="utf-8" indent="yes" doctype-system="about:legacy-compat"/>

  <xsl:variable name="self" select="/rss/channel/atom:link[@rel='self']/@href | /atom:feed/atom:link[@rel='self']/@href"/>

  <xsl:template match="/">
    <html>
      <xsl:attribute name="lang">
        <xsl:value-of select="/rss/channel/language | /atom:feed/@xml:lang"/>
      </xsl:attribute>
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="/rss/channel/title | /atom:feed/atom:title"/> (feed)</title>
        <style>
          body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
          .hint { background: #fff8d6; border: 1px solid #e8d98a; padding: 0.8rem 1rem; border-radius: 4px; }
          .hint code { display: block; margin-top: 0.4rem; word-break: break-all; user-select: all; }
          h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
          .description, .meta { color: #555; }
          ol { list-style: none; padding: 0; }
          li { border-top: 1px solid #ddd; padding: 0.8rem 0; }
          li a { font-weight: 600; font-size: 1.05rem; }
          .meta { font-size: 0.85rem; margin: 0.2rem 0; }
          .summary { margin: 0.3rem 0; }
        </style>
      </head>
      <body>
        <p class="hint">
          <strong>This is a web feed.</strong> To follow it, copy this URL into your feed reader:
          <code><xsl:value-of select="$self"/></code>
        </p>
        <xsl:apply-templates select="/rss/channel | /atom:feed"/>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="channel">
    <h1><a href="{link}"><xsl:value-of select="title"/></a></h1>
    <p class="description"><xsl:value-of select="description"/></p>
    <ol>
      <xsl:for-each select="item">
        <li>
          <a href="{link}"><xsl:value-of select="title"/></a>
          <p class="meta">
            <xsl:value-of select="pubDate"/>
            <xsl:for-each select="dc:creator | author">
              <xsl:text> · </xsl:text><xsl:value-of select="."/>
            </xsl:for-each>
          </p>
          <!-- Our RSS descriptions are HTML-escaped plain text: unescaping once gives that text back. -->
          <p class="summary"><xsl:value-of select="description" disable-output-escaping="yes"/></p>
        </li>
      </xsl:for-each>
    </ol>
  </xsl:template>

  <xsl:template match="atom:feed">
    <h1><a href="{atom:link[@rel='alternate']/@href}"><xsl:value-of select="atom:title"/></a></h1>
    <p class="description"><xsl:value-of select="atom:subtitle"/></p>
    <ol>
      <xsl:for-each select="atom:entry">
        <li>
          <a href="{atom:link[@rel='alternate']/@href}"><xsl:value-of select="atom:title"/></a>
          <p class="meta">
            <xsl:value-of select="substring(atom:published, 1, 10)"/>
            <xsl:for-each select="atom:author">
              <xsl:text> · </xsl:text><xsl:value-of select="atom:name"/>
            </xsl:for-each>
          </p>
          <p class="summary"><xsl:value-of select="atom:summary"/></p>
        </li>
      </xsl:for-each>
    </ol>
  </xsl:template>
</xsl:stylesheet>
