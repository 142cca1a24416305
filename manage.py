#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashinsight.settings")
    from django.core.management import execute_from_command_line

    if sys.argv[1:2] != ["check"]:  # check reports every configuration problem instead
        from hashinsight.startup import refuse_without_required_settings

        refuse_without_required_settings()
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
