module github.com/dwcp/dwcp-ml

go 1.26
