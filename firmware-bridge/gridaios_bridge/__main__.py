from gridaios_bridge.cli import main

raise SystemExit(main())
