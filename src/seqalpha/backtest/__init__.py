"""seqalpha.backtest"""
