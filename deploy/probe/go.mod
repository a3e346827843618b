module github.com/tributary-dev/tributary/deploy/probe

go 1.26.8
