from rayfleet.app import main

main()
