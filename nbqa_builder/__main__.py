from nbqa_builder.cli import main

raise SystemExit(main())
