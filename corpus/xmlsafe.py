"""Parsing untrusted XML (REFI-QDA files) without external entities or entity expansion."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from corpus.errors import PrecodeInputError


def parse_xml(data: bytes, *, source: str, error: type[PrecodeInputError] = PrecodeInputError
              ) -> Element:
    """Parse XML bytes; DTDs with entities and external references are refused."""
    try:
        return fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise error(f"refused unsafe XML ({type(exc).__name__}: entities or external "
                    "references are not allowed)", source=source) from exc
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise error(f"not well-formed XML: {exc.msg if hasattr(exc, 'msg') else exc}",
                    source=source, line=line) from exc
