"""Service projects: list, record, edit, needs survey."""

from flask import Blueprint

bp = Blueprint("projects", __name__, template_folder="templates")
