"""Tenders: create, publish, invite, clarify, bid, open."""

from flask import Blueprint

bp = Blueprint("tenders", __name__, template_folder="templates")
