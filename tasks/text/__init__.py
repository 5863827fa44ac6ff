"""Text primitives shared by the tasks: vocabularies and the gettext catalog reader."""
